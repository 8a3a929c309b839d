import { describe, expect, it } from "vitest";

import { chinaLocal, emptyForm, formOf, requestOf } from "./campaigns";

describe("campaign form", () => {
  it("shows UTC instants in China time", () => {
    expect(chinaLocal("2026-12-11T16:00:00Z")).toBe("2026-12-12T00:00:00");
  });

  it("sends ids split on commas and spaces, and only the boost's own fields", () => {
    const form = { ...emptyForm(), name: " 周末双倍 ", startsAt: "2026-12-12T00:00:00", endsAt: "2027-01-01T00:00:00",
                   productIds: "p_1, p_2，p_1", weekdays: [7, 6], kind: "multiplier" as const, l1PointsBp: 300,
                   multiplierPercent: 200 };
    const body = requestOf(form);
    expect(body.name).toBe("周末双倍");
    expect(body.scope?.product_ids).toEqual(["p_1", "p_2"]);
    expect(body.weekdays).toEqual([6, 7]);
    expect(body.boost).toEqual({ kind: "multiplier", l1_points_bp: 0, l2_points_bp: 0, multiplier_percent: 200 });
  });

  it("edits what it shows: a view's form gives back the same request", () => {
    const view = {
      campaign_id: "cp_1", name: "龙井高佣", starts_at: "2026-12-11T16:00:00Z", ends_at: "2026-12-31T16:00:00Z",
      weekdays: [], ended_at: null, origin: "merchant" as const, version: 2, status: "upcoming" as const,
      created_at: null, created_by: null, description: "一级佣金比例+3%",
      scope: { product_ids: ["p_tea"], category_ids: [], promoter_ids: ["u_1"], level_ids: [], new_promoter_days: null },
      boost: { kind: "points" as const, l1_points_bp: 300, l2_points_bp: 0, multiplier_percent: 100 },
    };
    const body = requestOf(formOf(view));
    expect(body.starts_at).toBe("2026-12-12T00:00:00");
    expect(body.scope).toEqual(view.scope);
    expect(body.boost).toEqual(view.boost);
  });
});
