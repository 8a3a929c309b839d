import { describe, expect, it } from "vitest";

import type { components } from "../../api/schema";
import {
  bpsToPercent, categoryForm, categoryUpdateBody, describeCommission, emptyProductForm, parsePercent,
  chinaTimeToIso, isoToChinaTime, productCreateBody, productForm, productUpdateBody,
} from "./productForm";

type Product = components["schemas"]["AdminProductView"];

const product: Product = {
  product_id: "p1", name: "茶叶", type: "physical", category_id: "c1", images: [], description: "",
  price_fen: 12_900, stock: 10, sales: 0, shipping_fee_fen: 800, per_user_limit: null, on_shelf: true,
  low_stock_threshold: 2, low_on_stock: false, distribution_enabled: true,
  commission: { mode: "ratio", l1: 1000, l2: 500 }, version: 3, created_at: null, updated_at: null,
  on_shelf_at: null, off_shelf_at: null, hot_rank: 0,
};

describe("percentages", () => {
  it("reads a typed percentage as basis points and back", () => {
    expect(parsePercent("10")).toBe(1000);
    expect(parsePercent("12.5%")).toBe(1250);
    expect(parsePercent("0.01")).toBe(1);
    expect(parsePercent("1.234")).toBeNull();
    expect(parsePercent("ten")).toBeNull();
    expect(bpsToPercent(1250)).toBe("12.5");
    expect(bpsToPercent(null)).toBe("");
  });
});

describe("product form", () => {
  it("creates with yuan read as fen and the commission in its unit", () => {
    const form = { ...emptyProductForm("c1"), name: " 茶叶 ", price: "129", shipping: "8.00", stock: 10,
      commission_mode: "fixed" as const, commission_l1: "1.5", commission_l2: "0.5" };
    const read = productCreateBody(form);
    expect(read.ok && read.value).toMatchObject({
      name: "茶叶", price_fen: 12_900, shipping_fee_fen: 800, stock: 10, commission: { mode: "fixed", l1: 150, l2: 50 },
    });
  });

  it("names the API's fields of what it cannot read", () => {
    const read = productCreateBody({ ...emptyProductForm(), price: "1.005", commission_mode: "ratio", commission_l1: "x" });
    expect(read.ok).toBe(false);
    if (!read.ok) expect(Object.keys(read.errors).sort()).toEqual(["category_id", "commission.l1", "name", "price_fen"]);
  });

  it("updates only what changed, with the version read", () => {
    const form = productForm(product);
    expect(form.price).toBe("129.00");
    expect(form.commission_l1).toBe("10");
    expect(productUpdateBody(form, product)).toEqual({ ok: true, value: { version: 3 } });
    const read = productUpdateBody({ ...form, price: "99.9", on_shelf: false, commission_l2: "6" }, product);
    expect(read).toEqual({
      ok: true,
      value: { version: 3, price_fen: 9990, on_shelf: false, commission: { mode: "ratio", l1: 1000, l2: 600 } },
    });
  });

  it("describes the commission setting", () => {
    expect(describeCommission({ mode: "inherit", l1: 0, l2: 0 })).toBe("继承分类/全局");
    expect(describeCommission({ mode: "ratio", l1: 1000, l2: 500 })).toBe("比例 10% / 5%");
    expect(describeCommission({ mode: "fixed", l1: 150, l2: 50 })).toBe("固定 ¥1.50 / ¥0.50 每件");
  });

  it("sends the images only when their set or order changed", () => {
    const a = "product-images/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.png";
    const b = "product-images/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.jpg";
    const withImages = { ...product, images: [a, b] };
    const form = productForm(withImages);
    expect(form.images).toEqual([a, b]);
    form.images.push("changing the form's list");
    expect(withImages.images).toEqual([a, b]); // the form holds its own copy
    expect(productUpdateBody({ ...form, images: [a, b] }, withImages)).toEqual({ ok: true, value: { version: 3 } });
    expect(productUpdateBody({ ...form, images: [b, a] }, withImages)).toEqual({ ok: true, value: { version: 3, images: [b, a] } });
    expect(productUpdateBody({ ...form, images: [a] }, withImages)).toEqual({ ok: true, value: { version: 3, images: [a] } });
    expect(productUpdateBody({ ...form, images: [] }, withImages)).toEqual({ ok: true, value: { version: 3, images: [] } });
    const created = productCreateBody({ ...emptyProductForm("c1"), name: "茶", price: "1", images: [b] });
    expect(created.ok && created.value.images).toEqual([b]);
  });
});

describe("category form", () => {
  it("sends a cleared rate as null (the global rate) and leaves the rest out", () => {
    const category = { category_id: "c1", name: "茶", sort: 1, l1_rate_bp: 1200, l2_rate_bp: null, product_count: 0,
      version: 5, created_at: null, updated_at: null };
    const form = categoryForm(category);
    expect(form.l1).toBe("12");
    expect(categoryUpdateBody({ ...form, l1: "" }, category)).toEqual({ ok: true, value: { version: 5, l1_rate_bp: null } });
    expect(categoryUpdateBody({ ...form, l2: "abc" }, category).ok).toBe(false);
  });
});

describe("planned shelf times and the hot rank", () => {
  it("reads China wall time as ISO +08:00 and shows the API's UTC back in China time", () => {
    expect(chinaTimeToIso("2026-12-12 00:00:00")).toBe("2026-12-12T00:00:00+08:00");
    expect(chinaTimeToIso("")).toBeNull();
    expect(isoToChinaTime("2026-12-11T16:00:00Z")).toBe("2026-12-12 00:00:00");
  });

  it("sends a planned time, a cleared one as null, and refuses an off time not after the on time", () => {
    const planned = { ...product, on_shelf_at: "2026-12-11T16:00:00Z" };
    const same = productUpdateBody(productForm(planned), planned);
    expect(same).toEqual({ ok: true, value: { version: 3 } });
    const cleared = productUpdateBody({ ...productForm(planned), on_shelf_at: "", hot_rank: 5 }, planned);
    expect(cleared).toEqual({ ok: true, value: { version: 3, on_shelf_at: null, hot_rank: 5 } });
    const wrong = productUpdateBody({ ...productForm(planned), off_shelf_at: "2026-12-11 23:00:00" }, planned);
    expect(wrong).toEqual({ ok: false, errors: { off_shelf_at: "下架时间须晚于上架时间" } });
  });
});
