import { describe, expect, it } from "vitest";

import type { components } from "../../api/schema";
import { changedContent, contentErrors, contentFields, contentForm, emptyContentForm } from "./productContent";

type Product = components["schemas"]["AdminProductView"];

const KEY = "product-images/" + "ab".repeat(16) + ".jpg";
const tea: Product = {
  product_id: "p1", name: "茶叶", type: "physical", category_id: "c1", images: [KEY], description: "",
  price_fen: 12_900, stock: 10, sales: 0, shipping_fee_fen: 800, per_user_limit: null, on_shelf: true,
  low_stock_threshold: 2, low_on_stock: false, distribution_enabled: true,
  commission: { mode: "inherit", l1: 0, l2: 0 }, version: 3, created_at: null, updated_at: null,
  on_shelf_at: null, off_shelf_at: null, hot_rank: 0,
  attributes: { weight_g: 250, origin: "杭州" },
  content: [{ type: "text", text: "好茶" }, { type: "image", key: KEY, url: "https://x", thumbnail_url: null }],
  after_sales: { no_reason_return: true, return_window_days: 15, return_shipping_paid_by: "merchant", note: "", is_default: false },
};

describe("product content", () => {
  it("sends only the attributes of the product's kind", () => {
    const form = { ...emptyContentForm(), weight_g: 250, origin: " 杭州 ", itinerary: "Day 1\n\nDay 2" };
    expect(contentFields(form, "physical").attributes).toEqual({ weight_g: 250, origin: "杭州" });
    expect(contentFields(form, "service").attributes).toEqual({ itinerary: ["Day 1", "Day 2"] });
    expect(contentFields(form, "virtual").attributes).toEqual({});
  });

  it("sends the default policy as null and an own one in full", () => {
    expect(contentFields(emptyContentForm(), "physical").after_sales).toBeNull();
    const own = { ...emptyContentForm(), own_policy: true, return_window_days: 10, policy_note: " 包邮退 " };
    expect(contentFields(own, "physical").after_sales).toEqual({
      no_reason_return: true, return_window_days: 10, return_shipping_paid_by: "buyer", note: "包邮退",
    });
  });

  it("reads a product back and sends nothing when nothing changed", () => {
    const form = contentForm(tea);
    expect(form.own_policy).toBe(true);
    expect(form.blocks).toEqual([{ type: "text", text: "好茶", key: "" }, { type: "image", text: "", key: KEY }]);
    expect(changedContent(form, "physical", tea)).toEqual({});
    form.blocks.push({ type: "heading", text: "冲泡", key: "" });
    expect(Object.keys(changedContent(form, "physical", tea))).toEqual(["content"]);
  });

  it("replaces the attributes when the kind changes", () => {
    const form = contentForm(tea);
    expect(changedContent(form, "service", tea)).toEqual({ attributes: {} });
  });

  it("names what the API would refuse", () => {
    const form = {
      ...emptyContentForm(), own_policy: true, return_window_days: 3,
      blocks: [{ type: "image" as const, text: "", key: "" }, { type: "text" as const, text: " ", key: "" }],
    };
    expect(Object.keys(contentErrors(form)).sort()).toEqual(["after_sales.return_window_days", "content.0.key", "content.1.text"]);
  });
});
