/**
 * Specs (规格) and SKUs as a merchant edits them: specs as a name and its values, one row per
 * combination with its price (yuan), starting stock and whether it is sold. The API identifies a
 * SKU by its combination (`options`), so rows keep their combination across edits.
 */
import type { components } from "../../api/schema";
import { parseYuan } from "../../lib/money";
import { fenToYuan } from "./productForm";

type Product = components["schemas"]["AdminProductView"];
type SpecIn = components["schemas"]["SpecIn"];
type SkuIn = components["schemas"]["SkuIn"];

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
    ?? { options, price: "", stock: 0, enabled: true, existing: false });
}

export function formSpecs(p: Product): SpecRow[] {
  return (p.specs ?? []).map((s) => ({ name: s.name, values: s.values.join(", ") }));
}

export function formSkus(p: Product): SkuRow[] {
  return (p.skus ?? []).map((s) => ({ options: [...s.options], price: fenToYuan(s.price_fen), stock: s.stock,
    enabled: s.enabled, existing: true }));
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
    skus.push({ options: row.options, price_fen: price ?? 0, stock: row.existing ? 0 : row.stock, enabled: row.enabled });
  });
  if (named.length > 0 && !rows.some((r) => r.enabled)) errors.skus = "至少启用一个规格";
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  return { ok: true, value: { specs: named.map((s) => ({ name: s.name.trim(), values: specValues(s) })), skus } };
}
