import { describe, expect, it } from "vitest";

import type { components } from "../../api/schema";
import { emptyProductForm, productCreateBody, productForm, productUpdateBody } from "./productForm";
import { combinations, skuRows, specsAndSkus } from "./skuForm";

type Product = components["schemas"]["AdminProductView"];

const tour: Product = {
  product_id: "p1", name: "一日游", type: "service", category_id: "c1", images: [], description: "",
  price_fen: 10_000, stock: 7, sales: 0, shipping_fee_fen: 0, per_user_limit: null, on_shelf: true,
  low_stock_threshold: 0, low_on_stock: false, distribution_enabled: true,
  commission: { mode: "inherit", l1: 0, l2: 0 }, version: 2, created_at: null, updated_at: null,
  on_shelf_at: null, off_shelf_at: null, hot_rank: 0,
  specs: [{ name: "出行人", values: ["成人", "儿童"] }],
  skus: [
    { sku_id: "k1", options: ["成人"], label: "成人", price_fen: 20_000, stock: 5, sales: 0, commission: null, enabled: true },
    { sku_id: "k2", options: ["儿童"], label: "儿童", price_fen: 10_000, stock: 2, sales: 0, commission: null, enabled: true },
  ],
};

describe("specs and SKUs", () => {
  it("makes one row per combination and keeps the rows it already had", () => {
    const specs = [{ name: "出行人", values: "成人，儿童" }, { name: "场次", values: "上午 下午" }];
    expect(combinations(specs)).toEqual([["成人", "上午"], ["成人", "下午"], ["儿童", "上午"], ["儿童", "下午"]]);
    const kept = { options: ["成人", "上午"], price: "200", stock: 3, enabled: false, existing: true, limit: 2,
      commission_mode: "inherit" as const, commission_l1: "", commission_l2: "" };
    const rows = skuRows(specs, [kept]);
    expect(rows[0]).toBe(kept);
    expect(rows[3]).toMatchObject({ price: "", existing: false, enabled: true, limit: null, commission_mode: "inherit" });
  });

  it("names the API's fields for a missing price and sends new stock only", () => {
    const specs = [{ name: "规格", values: "250g, 500g" }];
    const rows = skuRows(specs, []);
    expect(specsAndSkus(specs, rows)).toEqual({ ok: false, errors: { "skus.0.price_fen": "请填写价格（元）",
      "skus.1.price_fen": "请填写价格（元）" } });
    rows[0].price = "50";
    rows[0].stock = 4;
    rows[1].price = "90.5";
    const form = { ...emptyProductForm("c1"), name: "龙井", specs, skus: rows };
    const body = productCreateBody(form);
    expect(body.ok && body.value).toMatchObject({ price_fen: null, specs: [{ name: "规格", values: ["250g", "500g"] }],
      skus: [{ options: ["250g"], price_fen: 5_000, stock: 4 }, { options: ["500g"], price_fen: 9_050, stock: 0 }] });
  });

  it("sends the whole list only when it changed, and never a top-level price", () => {
    const form = productForm(tour);
    expect(productUpdateBody(form, tour)).toEqual({ ok: true, value: { version: 2 } });
    form.skus[1].price = "80";
    const changed = productUpdateBody(form, tour);
    expect(changed.ok && changed.value.skus?.map((s) => [s.price_fen, s.stock])).toEqual([[20_000, 0], [8_000, 0]]);
    expect(changed.ok && "price_fen" in changed.value).toBe(false);
  });

  it("sends each SKU's own limit and commission, percent as bp and yuan as fen", () => {
    const specs = [{ name: "规格", values: "250g, 500g" }];
    const rows = skuRows(specs, []);
    rows[0].price = "50";
    rows[0].limit = 3;
    rows[0].commission_mode = "ratio";
    rows[0].commission_l1 = "12.5";
    rows[0].commission_l2 = "5";
    rows[1].price = "90";
    rows[1].commission_mode = "fixed";
    rows[1].commission_l1 = "8";
    const read = specsAndSkus(specs, rows);
    expect(read.ok && read.value.skus).toEqual([
      { options: ["250g"], price_fen: 5_000, stock: 0, enabled: true, per_user_limit: 3,
        commission: { mode: "ratio", l1: 1_250, l2: 500 } },
      { options: ["500g"], price_fen: 9_000, stock: 0, enabled: true, per_user_limit: null,
        commission: { mode: "fixed", l1: 800, l2: 0 } }]);
    rows[1].commission_l2 = "abc";
    expect(specsAndSkus(specs, rows)).toEqual({ ok: false, errors: { "skus.1.commission.l2": "请填写每件佣金（元）" } });
  });

  it("keeps a SKU's stored limit and commission on an edit and sends a changed limit", () => {
    const stored: Product = { ...tour, skus: [
      { ...tour.skus![0], per_user_limit: 2, commission: { mode: "fixed", l1: 300, l2: 100 } }, tour.skus![1]] };
    const form = productForm(stored);
    expect(form.skus[0]).toMatchObject({ limit: 2, commission_mode: "fixed", commission_l1: "3.00", commission_l2: "1.00" });
    expect(productUpdateBody(form, stored)).toEqual({ ok: true, value: { version: 2 } });
    form.skus[1].limit = 1;
    const changed = productUpdateBody(form, stored);
    expect(changed.ok && changed.value.skus?.map((s) => [s.per_user_limit, s.commission])).toEqual([
      [2, { mode: "fixed", l1: 300, l2: 100 }], [1, null]]);
  });
});
