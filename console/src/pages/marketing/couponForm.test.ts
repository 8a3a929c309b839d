import { describe, expect, it } from "vitest";

import { couponBody, couponForm, describeCoupon } from "./couponForm";

describe("coupon template form", () => {
  it("turns yuan and percent into integer fen and basis points", () => {
    const form = { ...couponForm(), name: "满99减10", amountOff: "10", minSpend: "99.5" };
    const read = couponBody(form);
    expect(read.ok && read.value).toMatchObject({ amount_off_fen: 1000, min_spend_fen: 9950, max_off_fen: null });
    const pct = couponBody({ ...form, kind: "percent", percentOff: "12.5", maxOff: "20" });
    expect(pct.ok && pct.value).toMatchObject({ percent_off_bp: 1250, max_off_fen: 2000, amount_off_fen: 0 });
  });

  it("names the API's field for each mistake", () => {
    const read = couponBody({ ...couponForm(), kind: "percent", percentOff: "10", scope: "products" });
    expect(read.ok).toBe(false);
    if (!read.ok) expect(Object.keys(read.errors).sort()).toEqual(["max_off_fen", "name", "scope_ids"]);
  });

  it("describes what a coupon takes off", () => {
    expect(describeCoupon({ kind: "amount", amount_off_fen: 1000, percent_off_bp: 0, max_off_fen: null,
      min_spend_fen: 9900 })).toBe("满¥99.00减¥10.00");
    expect(describeCoupon({ kind: "percent", amount_off_fen: 0, percent_off_bp: 1000, max_off_fen: 2000,
      min_spend_fen: 0 })).toBe("无门槛减10%（最高减¥20.00）");
  });
});
