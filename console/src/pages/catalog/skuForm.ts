/**
 * Specs (规格) and SKUs as a merchant edits them: specs as a name and its values, one row per
 * combination with its price (yuan), starting stock, purchase limit, own commission and whether it
 * is sold. The API identifies a SKU by its combination (`options`), so rows keep their combination
 * across edits; an edit sends every row whole, so each row carries what the SKU already has.
 */
import type { components } from "../../api/schema";
import { parseYuan } from "../../lib/money";
import { bpsToPercent, fenToYuan, parsePercent } from "./productForm";

type Product = components["schemas"]["AdminProductView"];
type SpecIn = components["schemas"]["SpecIn"];
type SkuIn = components["schemas"]["SkuIn"];
type SkuView = components["schemas"]["SkuView"];
type CommissionMode = components["schemas"]["CommissionSettingIn"]["mode"];

export interface SpecRow {
  name: string;
  /** The values as typed, separated by commas or spaces: "成人, 儿童, 老人". */
  values: string;
}

export interface SkuRow {
  options: string[];
  price: string;
  /** Starting stock of a new combination; an existing one's moves through stock adjustments. */
  stock: number;
  enabled: boolean;
  /** Already stored: its stock is shown, not edited here. */
  existing: boolean;
  /** 限购 per customer of this SKU, on top of the product's; null: the product's limit only. */
  limit: number | null;
  /** "inherit": the product's commission setting. */
  commission_mode: CommissionMode;
  /** Percent for "ratio", yuan per unit for "fixed". */
  commission_l1: string;
  commission_l2: string;
}

function newRow(options: string[]): SkuRow {
  return { options, price: "", stock: 0, enabled: true, existing: false, limit: null, commission_mode: "inherit",
    commission_l1: "", commission_l2: "" };
}

export function specValues(spec: SpecRow): string[] {
  return [...new Set(spec.values.split(/[,，\s]+/).map((v) => v.trim()).filter(Boolean))];
}

/** Every combination of the specs' values, in the specs' order (none without a complete spec). */
export function combinations(specs: SpecRow[]): string[][] {
  const lists = specs.filter((s) => s.name.trim()).map(specValues);
  if (lists.length === 0 || lists.some((l) => l.length === 0)) return [];
  return lists.reduce<string[][]>((acc, values) => acc.flatMap((combo) => values.map((v) => [...combo, v])), [[]]);
}

/** The rows for `specs`, keeping what `current` rows say of a combination they already list. */
export function skuRows(specs: SpecRow[], current: SkuRow[]): SkuRow[] {
  const known = new Map(current.map((row) => [row.options.join("\u001f"), row]));
  return combinations(specs).map((options) => known.get(options.join("\u001f"))
    ?? newRow(options));
}

export function formSpecs(p: Product): SpecRow[] {
  return (p.specs ?? []).map((s) => ({ name: s.name, values: s.values.join(", ") }));
}

function shown(mode: CommissionMode, value: number): string {
  return mode === "ratio" ? bpsToPercent(value) : mode === "fixed" ? fenToYuan(value) : "";
}

export function formSkus(p: Product): SkuRow[] {
  return (p.skus ?? []).map((s: SkuView) => {
    const mode = s.commission?.mode ?? "inherit";
    return { options: [...s.options], price: fenToYuan(s.price_fen), stock: s.stock, enabled: s.enabled,
      existing: true, limit: s.per_user_limit ?? null, commission_mode: mode,
      commission_l1: shown(mode, s.commission?.l1 ?? 0), commission_l2: shown(mode, s.commission?.l2 ?? 0) };
  });
}

/** A row's own commission as the API takes it (null: the product's); errors keyed `skus.N.commission.l1`. */
function rowCommission(row: SkuRow, i: number, errors: Record<string, string>): SkuIn["commission"] {
  if (row.commission_mode === "inherit") return null;
  const read = row.commission_mode === "ratio" ? parsePercent : parseYuan;
  const hint = row.commission_mode === "ratio" ? "请填写百分比，如 10 或 12.5" : "请填写每件佣金（元）";
  const l1 = read(row.commission_l1 || "0");
  const l2 = read(row.commission_l2 || "0");
  if (l1 === null || l1 < 0) errors[`skus.${i}.commission.l1`] = hint;
  if (l2 === null || l2 < 0) errors[`skus.${i}.commission.l2`] = hint;
  return { mode: row.commission_mode, l1: l1 ?? 0, l2: l2 ?? 0 };
}

type Read<T> = { ok: true; value: T } | { ok: false; errors: Record<string, string> };

/** The specs and SKUs as the API takes them; errors keyed by the API's field names (`skus.N.price_fen`). */
export function specsAndSkus(specs: SpecRow[], rows: SkuRow[]): Read<{ specs: SpecIn[]; skus: SkuIn[] }> {
  const errors: Record<string, string> = {};
  const named = specs.filter((s) => s.name.trim());
  named.forEach((s, i) => {
    if (specValues(s).length === 0) errors[`specs.${i}.values`] = "请填写规格值，用逗号分隔";
  });
  const skus: SkuIn[] = [];
  rows.forEach((row, i) => {
    const price = parseYuan(row.price);
    if (price === null || price < 1) errors[`skus.${i}.price_fen`] = "请填写价格（元）";
    if (row.limit !== null && (!Number.isInteger(row.limit) || row.limit < 1)) {
      errors[`skus.${i}.per_user_limit`] = "限购至少 1 件；留空为不单独限购";
    }
    skus.push({ options: row.options, price_fen: price ?? 0, stock: row.existing ? 0 : row.stock, enabled: row.enabled,
      per_user_limit: row.limit || null, commission: rowCommission(row, i, errors) });
  });
  if (named.length > 0 && !rows.some((r) => r.enabled)) errors.skus = "至少启用一个规格";
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  return { ok: true, value: { specs: named.map((s) => ({ name: s.name.trim(), values: specValues(s) })), skus } };
}
