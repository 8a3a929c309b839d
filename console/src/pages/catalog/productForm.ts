/**
 * The product and category forms as a merchant fills them (yuan, percent) and the API's bodies
 * (integer fen, basis points). Updates send only the fields that changed, with the version read.
 */
import type { components } from "../../api/schema";
import { formatFen, parseYuan } from "../../lib/money";
import { formatTime } from "../../lib/time";
import { formSkus, formSpecs, specsAndSkus, type SkuRow, type SpecRow } from "./skuForm";

type Product = components["schemas"]["AdminProductView"];
type ProductCreate = components["schemas"]["ProductCreate"];
type ProductUpdate = components["schemas"]["ProductUpdate"];
type Category = components["schemas"]["CategoryView"];
type CategoryCreate = components["schemas"]["CategoryCreate"];
type CategoryUpdate = components["schemas"]["CategoryUpdate"];
export type ProductType = Product["type"];
export type CommissionMode = Product["commission"]["mode"];

/** A percentage typed by a merchant ("10", "12.5%") as basis points; null when it is not one. */
export function parsePercent(text: string): number | null {
  const match = /^(\d{1,3})(?:\.(\d{1,2}))?$/.exec(text.replace(/[%\s]/g, ""));
  if (!match) return null;
  const [, whole, fraction = ""] = match;
  return Number(whole) * 100 + Number(fraction.padEnd(2, "0"));
}

/** Basis points as the percentage a merchant types ("12.5"); "" for none. */
export function bpsToPercent(bps: number | null | undefined): string {
  if (bps === null || bps === undefined) return "";
  return (bps / 100).toFixed(2).replace(/\.?0+$/, "");
}

/** Fen as the yuan a merchant types ("12.50"), without ¥ or thousands separators. */
export function fenToYuan(fen: number): string {
  return formatFen(fen).replace(/[¥,]/g, "");
}

export interface ProductForm {
  name: string;
  type: ProductType;
  category_id: string;
  description: string;
  /** Media-bucket keys of verified uploads; the first is the cover. */
  images: string[];
  price: string;
  shipping: string;
  stock: number;
  low_stock_threshold: number;
  per_user_limit: number | null;
  on_shelf: boolean;
  distribution_enabled: boolean;
  commission_mode: CommissionMode;
  /** Percent for "ratio", yuan per unit for "fixed". */
  commission_l1: string;
  commission_l2: string;
  /** 规格: none for a product priced and stocked by `price` / `stock`. */
  specs: SpecRow[];
  skus: SkuRow[];
  /** 定时上下架 as China wall time "YYYY-MM-DD HH:mm:ss" (the picker's value); "" for none planned. */
  on_shelf_at: string;
  off_shelf_at: string;
  /** 爆款: 0 is not hot; a greater rank lists first. */
  hot_rank: number;
}

/** A China wall time typed in the picker ("2026-12-12 00:00:00") as the API's ISO with +08:00; null for "". */
export function chinaTimeToIso(text: string): string | null {
  const match = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2})(?::(\d{2}))?$/.exec(text.trim());
  if (!match) return null;
  return `${match[1]}T${match[2]}:${match[3] ?? "00"}+08:00`;
}

/** The API's planned time (UTC) as the picker shows it (China wall time); "" for none. */
export function isoToChinaTime(iso: string | null | undefined): string {
  return iso ? formatTime(iso) : "";
}

function sameInstant(a: string | null, b: string | null | undefined): boolean {
  if (!a || !b) return !a && !b;
  return new Date(a).getTime() === new Date(b).getTime();
}

export function emptyProductForm(categoryId = ""): ProductForm {
  return {
    name: "", type: "physical", category_id: categoryId, description: "", images: [], price: "", shipping: "0",
    stock: 0, low_stock_threshold: 0, per_user_limit: null, on_shelf: false, distribution_enabled: true,
    commission_mode: "inherit", commission_l1: "", commission_l2: "", on_shelf_at: "", off_shelf_at: "", hot_rank: 0,
    specs: [], skus: [],
  };
}

export function productForm(p: Product): ProductForm {
  const { mode, l1, l2 } = p.commission;
  const show = (value: number): string => (mode === "ratio" ? bpsToPercent(value) : mode === "fixed" ? fenToYuan(value) : "");
  return {
    name: p.name, type: p.type, category_id: p.category_id, description: p.description, images: [...p.images],
    price: fenToYuan(p.price_fen), shipping: fenToYuan(p.shipping_fee_fen), stock: p.stock,
    low_stock_threshold: p.low_stock_threshold, per_user_limit: p.per_user_limit, on_shelf: p.on_shelf,
    distribution_enabled: p.distribution_enabled, commission_mode: mode, commission_l1: show(l1), commission_l2: show(l2),
    on_shelf_at: isoToChinaTime(p.on_shelf_at), off_shelf_at: isoToChinaTime(p.off_shelf_at), hot_rank: p.hot_rank ?? 0,
    specs: formSpecs(p), skus: formSkus(p),
  };
}

/** The form's fields read into API values; `errors` is keyed by the API's field names. */
type Read<T> = { ok: true; value: T } | { ok: false; errors: Record<string, string> };

function readProduct(form: ProductForm): Read<ProductCreate> {
  const errors: Record<string, string> = {};
  if (!form.name.trim()) errors.name = "请填写商品名称";
  if (!form.category_id) errors.category_id = "请选择分类";
  const withSpecs = form.specs.some((spec) => spec.name.trim());
  const price = withSpecs ? null : parseYuan(form.price);
  if (!withSpecs && (price === null || price < 1)) errors.price_fen = "请填写价格（元，最多两位小数，至少 0.01）";
  const skus = withSpecs ? specsAndSkus(form.specs, form.skus) : null;
  if (skus && !skus.ok) Object.assign(errors, skus.errors);
  const shipping = form.type === "physical" ? parseYuan(form.shipping || "0") : 0;
  if (shipping === null || shipping < 0) errors.shipping_fee_fen = "请填写运费（元，最多两位小数）";
  let l1 = 0;
  let l2 = 0;
  if (form.commission_mode !== "inherit") {
    const read = form.commission_mode === "ratio" ? parsePercent : parseYuan;
    const hint = form.commission_mode === "ratio" ? "请填写百分比，如 10 或 12.5" : "请填写每件佣金（元）";
    const a = read(form.commission_l1 || "0");
    const b = read(form.commission_l2 || "0");
    if (a === null || a < 0) errors["commission.l1"] = hint;
    else l1 = a;
    if (b === null || b < 0) errors["commission.l2"] = hint;
    else l2 = b;
  }
  const onAt = form.on_shelf_at ? chinaTimeToIso(form.on_shelf_at) : null;
  const offAt = form.off_shelf_at ? chinaTimeToIso(form.off_shelf_at) : null;
  if (form.on_shelf_at && !onAt) errors.on_shelf_at = "请选择上架时间";
  if (form.off_shelf_at && !offAt) errors.off_shelf_at = "请选择下架时间";
  if (onAt && offAt && new Date(offAt).getTime() <= new Date(onAt).getTime()) errors.off_shelf_at = "下架时间须晚于上架时间";
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  return {
    ok: true,
    value: {
      name: form.name.trim(), type: form.type, category_id: form.category_id, description: form.description,
      images: [...form.images], price_fen: price as number, shipping_fee_fen: shipping as number, stock: form.stock,
      low_stock_threshold: form.low_stock_threshold, per_user_limit: form.per_user_limit || null,
      on_shelf: form.on_shelf, distribution_enabled: form.distribution_enabled,
      commission: { mode: form.commission_mode, l1, l2 },
      on_shelf_at: onAt, off_shelf_at: offAt, hot_rank: form.hot_rank || 0,
      ...(skus?.ok ? skus.value : {}),
    },
  };
}

export function productCreateBody(form: ProductForm): Read<ProductCreate> {
  return readProduct(form);
}

/** Only what changed against `current` (stock moves through stock adjustments, never here). */
export function productUpdateBody(form: ProductForm, current: Product): Read<ProductUpdate> {
  const read = readProduct(form);
  if (!read.ok) return read;
  const next = read.value;
  const body: ProductUpdate = { version: current.version };
  const simple = ["name", "type", "category_id", "description", "price_fen", "shipping_fee_fen", "low_stock_threshold",
    "per_user_limit", "on_shelf", "distribution_enabled", "hot_rank"] as const;
  for (const key of simple) {
    if (next[key] !== current[key]) (body as Record<string, unknown>)[key] = next[key];
  }
  const images = next.images ?? [];
  if (images.length !== current.images.length || images.some((key, i) => key !== current.images[i])) {
    body.images = images;
  }
  // A planned time cleared is sent as null (nothing planned any more).
  if (!sameInstant(next.on_shelf_at ?? null, current.on_shelf_at)) body.on_shelf_at = next.on_shelf_at ?? null;
  if (!sameInstant(next.off_shelf_at ?? null, current.off_shelf_at)) body.off_shelf_at = next.off_shelf_at ?? null;
  const c = next.commission;
  if (c.mode !== current.commission.mode || c.l1 !== current.commission.l1 || c.l2 !== current.commission.l2) {
    body.commission = c;
  }
  if (next.specs && next.skus) {
    // A product with specs is priced per SKU: the whole list goes when any of it changed.
    delete body.price_fen;
    const own = (c: { mode: string; l1?: number; l2?: number } | null | undefined): unknown[] | null =>
      (c && c.mode !== "inherit" ? [c.mode, c.l1 ?? 0, c.l2 ?? 0] : null);
    const was = JSON.stringify([current.specs ?? [], (current.skus ?? []).map((k) => [k.options, k.price_fen, k.enabled,
      k.per_user_limit ?? null, own(k.commission)])]);
    const now = JSON.stringify([next.specs, next.skus.map((k) => [k.options, k.price_fen, k.enabled ?? true,
      k.per_user_limit ?? null, own(k.commission)])]);
    if (was !== now) {
      body.specs = next.specs;
      body.skus = next.skus;
    }
  }
  return { ok: true, value: body };
}

export interface CategoryForm {
  name: string;
  sort: number;
  /** Percent; "" falls back to the global rate. */
  l1: string;
  l2: string;
}

export function categoryForm(c?: Category): CategoryForm {
  return c
    ? { name: c.name, sort: c.sort, l1: bpsToPercent(c.l1_rate_bp), l2: bpsToPercent(c.l2_rate_bp) }
    : { name: "", sort: 0, l1: "", l2: "" };
}

function readCategory(form: CategoryForm): Read<CategoryCreate> {
  const errors: Record<string, string> = {};
  if (!form.name.trim()) errors.name = "请填写分类名称";
  const rate = (text: string, field: string): number | null => {
    if (!text.trim()) return null;
    const bps = parsePercent(text);
    if (bps === null) errors[field] = "请填写百分比，如 10 或 12.5；留空使用全局比例";
    return bps;
  };
  const l1 = rate(form.l1, "l1_rate_bp");
  const l2 = rate(form.l2, "l2_rate_bp");
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  return { ok: true, value: { name: form.name.trim(), sort: form.sort, l1_rate_bp: l1, l2_rate_bp: l2 } };
}

export function categoryCreateBody(form: CategoryForm): Read<CategoryCreate> {
  return readCategory(form);
}

/** Only what changed; a rate cleared is sent as null (back to the global rate). */
export function categoryUpdateBody(form: CategoryForm, current: Category): Read<CategoryUpdate> {
  const read = readCategory(form);
  if (!read.ok) return read;
  const next = read.value;
  const body: CategoryUpdate = { version: current.version };
  if (next.name !== current.name) body.name = next.name;
  if (next.sort !== current.sort) body.sort = next.sort;
  if ((next.l1_rate_bp ?? null) !== current.l1_rate_bp) body.l1_rate_bp = next.l1_rate_bp ?? null;
  if ((next.l2_rate_bp ?? null) !== current.l2_rate_bp) body.l2_rate_bp = next.l2_rate_bp ?? null;
  return { ok: true, value: body };
}

/** A product's commission setting in words: "继承分类/全局", "比例 10% / 5%", "固定 ¥1.00 / ¥0.50 每件". */
export function describeCommission(c: Product["commission"]): string {
  if (c.mode === "ratio") return `比例 ${bpsToPercent(c.l1)}% / ${bpsToPercent(c.l2)}%`;
  if (c.mode === "fixed") return `固定 ${formatFen(c.l1)} / ${formatFen(c.l2)} 每件`;
  return "继承分类/全局";
}
