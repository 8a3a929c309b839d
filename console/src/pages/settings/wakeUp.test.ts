import { describe, expect, it } from "vitest";

import { funnelRows, wakeUpFormOf, wakeUpRequestOf } from "./wakeUp";

describe("wake-up rule form", () => {
  const view = {
    enabled: true, inactive_days: 30, boost_days: 7, max_promoters_per_run: 200, version: 3,
    boost: { kind: "points" as const, l1_points_bp: 200, l2_points_bp: 50, multiplier_percent: 100 },
  };

  it("round-trips the rule and sends only the chosen kind's numbers", () => {
    const form = wakeUpFormOf(view);
    expect(wakeUpRequestOf(form)).toEqual({
      enabled: true, inactive_days: 30, boost_days: 7,
      boost: { kind: "points", l1_points_bp: 200, l2_points_bp: 50, multiplier_percent: 100 },
    });
    expect(wakeUpRequestOf({ ...form, kind: "multiplier", multiplierPercent: 150 }).boost).toEqual(
      { kind: "multiplier", l1_points_bp: 0, l2_points_bp: 0, multiplier_percent: 150 });
  });

  it("offers ×2 when switching a points rule to a multiplier", () => {
    expect(wakeUpFormOf(view).multiplierPercent).toBe(200);
  });
});

describe("wake-up funnel", () => {
  const count = { campaign_id: "cp_wakeup_20261206", starts_at: "2026-12-06T01:00:00Z", ends_at: "2026-12-13T01:00:00Z",
                  targeted: 8, woke: 3, with_share_visit: 2, with_paid_order: 1, as_of: "2026-12-08T02:00:00Z" };

  it("shows each step's count and its share of those chosen, in integer arithmetic", () => {
    expect(funnelRows(count).map((r) => [r.key, r.count, r.share])).toEqual([
      ["targeted", 8, "100.0%"], ["woke", 3, "37.5%"], ["with_share_visit", 2, "25.0%"], ["with_paid_order", 1, "12.5%"],
    ]);
  });

  it("shows no share when nobody was chosen", () => {
    expect(funnelRows({ ...count, targeted: 0, woke: 0, with_share_visit: 0, with_paid_order: 0 })[1].share).toBe("—");
  });

  it("rounds a third to one decimal", () => {
    expect(funnelRows({ ...count, targeted: 3, woke: 1 })[1].share).toBe("33.3%");
  });
});
