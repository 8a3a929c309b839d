/**
 * The batch edit (批量操作) of the product list: what the merchant picks (shelf, category, commission)
 * as the API's body, and its per-product answer in words.
 */
import type { components } from "../../api/schema";
import { parseYuan } from "../../lib/money";
import { parsePercent, type CommissionMode } from "./productForm";

type BatchEdit = components["schemas"]["ProductBatchEdit"];
type BatchResult = components["schemas"]["ProductBatchResult"];
type BatchItem = components["schemas"]["ProductBatchItem"];

/** The API's cap on one batch (MAX_BATCH_PRODUCTS). */
export const MAX_BATCH = 100;

export interface BatchForm {
  /** "keep": leave as it is. */
  shelf: "keep" | "on" | "off";
  category_id: string;
  commission: "keep" | CommissionMode;
  /** Percent for "ratio", yuan per unit for "fixed". */
  l1: string;
  l2: string;
}

export function emptyBatchForm(): BatchForm {
  return { shelf: "keep", category_id: "", commission: "keep", l1: "", l2: "" };
}

type Read = { ok: true; value: BatchEdit } | { ok: false; errors: Record<string, string> };

export function batchBody(form: BatchForm, productIds: string[]): Read {
  const errors: Record<string, string> = {};
  const ids = [...new Set(productIds)];
  if (ids.length === 0) errors.product_ids = "请先勾选商品";
  if (ids.length > MAX_BATCH) errors.product_ids = `一次最多 ${MAX_BATCH} 个商品`;
  const body: BatchEdit = { product_ids: ids };
  if (form.shelf !== "keep") body.on_shelf = form.shelf === "on";
  if (form.category_id) body.category_id = form.category_id;
  if (form.commission !== "keep") {
    let l1 = 0;
    let l2 = 0;
    if (form.commission !== "inherit") {
      const read = form.commission === "ratio" ? parsePercent : parseYuan;
      const a = read(form.l1 || "0");
      const b = read(form.l2 || "0");
      if (a === null || a < 0) errors["commission.l1"] = "请填写一级佣金";
      else l1 = a;
      if (b === null || b < 0) errors["commission.l2"] = "请填写二级佣金";
      else l2 = b;
    }
    body.commission = { mode: form.commission, l1, l2 };
  }
  if (body.on_shelf === undefined && !body.category_id && !body.commission) {
    errors.on_shelf = "请至少选择一项要修改的内容";
  }
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  return { ok: true, value: body };
}

export const BATCH_OUTCOME: Record<BatchItem["outcome"], string> = {
  updated: "已修改",
  unchanged: "无需修改",
  not_found: "商品不存在",
  refused: "被拒绝",
  conflict: "他人正在修改，请重试",
};

/** One line for the toast: "已修改 3 个，被拒绝 1 个". */
export function summarize(result: BatchResult): string {
  const counts = new Map<BatchItem["outcome"], number>();
  for (const item of result.items) counts.set(item.outcome, (counts.get(item.outcome) ?? 0) + 1);
  return [...counts].map(([outcome, n]) => `${BATCH_OUTCOME[outcome]} ${n} 个`).join("，");
}

/** Why a product was not changed, as the merchant reads it ("" when it was). */
export function explain(item: BatchItem): string {
  if (item.outcome === "updated" || item.outcome === "unchanged") return "";
  const fields = (item.fields ?? []).map((f) => `${f.field}: ${f.reason}`).join("；");
  return [item.reason, fields].filter(Boolean).join(" — ");
}
