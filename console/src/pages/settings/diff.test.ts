import { describe, expect, it } from "vitest";

import { diffDocuments, formatValue } from "./diff";

describe("diffDocuments", () => {
  it("finds nothing between equal documents", () => {
    const doc = { commission: { l1_rate_bp: 1000 }, levels: [{ id: "basic" }], banned_phrases: [] };
    expect(diffDocuments(doc, structuredClone(doc))).toEqual([]);
  });

  it("names each changed leaf by its path", () => {
    const before = { commission: { l1_rate_bp: 1000, l2_rate_bp: 500 }, promoter_title: "推广员" };
    const after = { commission: { l1_rate_bp: 1200, l2_rate_bp: 500 }, promoter_title: "分享官" };
    expect(diffDocuments(before, after)).toEqual([
      { path: "commission.l1_rate_bp", before: 1000, after: 1200 },
      { path: "promoter_title", before: "推广员", after: "分享官" },
    ]);
  });

  it("compares arrays by index and shows an added item whole", () => {
    const before = { levels: [{ id: "basic", l1_points_bp: 0 }] };
    const after = { levels: [{ id: "basic", l1_points_bp: 100 }, { id: "gold", l1_points_bp: 300 }] };
    expect(diffDocuments(before, after)).toEqual([
      { path: "levels.0.l1_points_bp", before: 0, after: 100 },
      { path: "levels.1", before: undefined, after: { id: "gold", l1_points_bp: 300 } },
    ]);
  });

  it("reports a field only one side has, and a change of kind, as one row", () => {
    expect(diffDocuments({ a: 1 }, { b: 2 })).toEqual([
      { path: "a", before: 1, after: undefined },
      { path: "b", before: undefined, after: 2 },
    ]);
    expect(diffDocuments({ p: null }, { p: { days: 3 } })).toEqual([{ path: "p", before: null, after: { days: 3 } }]);
    expect(diffDocuments({ m: ["wechat"] }, { m: ["wechat", "bank"] })).toEqual([{ path: "m.1", before: undefined, after: "bank" }]);
  });
});

describe("formatValue", () => {
  it("shows fen as yuan and basis points as percent", () => {
    expect(formatValue("withdrawal.min_fen", 5000)).toBe("¥50.00");
    expect(formatValue("commission.l1_rate_bp", 1250)).toBe("12.5%");
    expect(formatValue("orders.auto_confirm_days", 10)).toBe("10");
  });

  it("shows missing, empty, yes/no and structures", () => {
    expect(formatValue("x", undefined)).toBe("—");
    expect(formatValue("x", null)).toBe("（空）");
    expect(formatValue("x", true)).toBe("是");
    expect(formatValue("levels.1", { id: "gold" })).toBe('{"id":"gold"}');
  });
});
