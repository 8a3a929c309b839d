import { describe, expect, it } from "vitest";

import { CAP_LIMIT_BP, checkCap } from "./cap";

const basic = { id: "basic", name: "普通" };

describe("checkCap", () => {
  it("accepts the defaults: 10% + 5% within 30%", () => {
    const report = checkCap({ commission: { l1_rate_bp: 1000, l2_rate_bp: 500, cap_bp: 3000 }, levels: [basic] });
    expect(report.over).toBe(false);
    expect(report.overCount).toBe(0);
    expect(report.worst.totalBp).toBe(1500);
    expect(report.fields).toEqual([]);
  });

  it("flags L1 + L2 = 31% over a 30% cap, naming the global rates", () => {
    const report = checkCap({ commission: { l1_rate_bp: 2600, l2_rate_bp: 500, cap_bp: 3000 }, levels: [basic] });
    expect(report.over).toBe(true);
    expect(report.global.over).toBe(true);
    expect(report.worst.totalBp).toBe(3100);
    expect(report.fields).toEqual(["commission.l1_rate_bp", "commission.l2_rate_bp"]);
  });

  it("is exactly at the cap allowed", () => {
    expect(checkCap({ commission: { l1_rate_bp: 2000, l2_rate_bp: 1000, cap_bp: 3000 }, levels: [basic] }).over).toBe(false);
  });

  it("pairs the L1 points of one level with the L2 points of another", () => {
    const levels = [
      basic,
      { id: "gold", name: "金牌", l1_points_bp: 1000, l2_points_bp: 0 },
      { id: "team", name: "团长", l1_points_bp: 0, l2_points_bp: 900 },
    ];
    const report = checkCap({ commission: { l1_rate_bp: 1000, l2_rate_bp: 500, cap_bp: 3000 }, levels });
    // No single level is over (gold: 25%, team: 24%), but a gold L1 with a team L2 is 34%.
    expect(report.cells[1][1].over).toBe(false);
    expect(report.cells[2][2].over).toBe(false);
    expect(report.cells[1][2]).toMatchObject({ l1Bp: 2000, l2Bp: 1400, totalBp: 3400, over: true });
    expect(report.overCount).toBe(1);
    expect(report.worst).toMatchObject({ l1Level: 1, l2Level: 2 });
    expect(report.fields).toEqual(["commission.l1_rate_bp", "commission.l2_rate_bp",
      "levels.1.l1_points_bp", "levels.2.l2_points_bp"]);
  });

  it("lowers nothing above the platform limit and reads a lower cap", () => {
    const report = checkCap({ commission: { l1_rate_bp: 1000, l2_rate_bp: 500, cap_bp: 1200 }, levels: [basic] });
    expect(report.capBp).toBe(1200);
    expect(report.over).toBe(true);
    expect(checkCap({ commission: { l1_rate_bp: 0, l2_rate_bp: 0, cap_bp: 9999 }, levels: [] }).capBp).toBe(CAP_LIMIT_BP);
  });

  it("reads an emptied input as 0 while the merchant types", () => {
    const report = checkCap({ commission: { l1_rate_bp: null, l2_rate_bp: undefined, cap_bp: 0 }, levels: [basic] });
    expect(report.worst.totalBp).toBe(0);
    expect(report.over).toBe(false);
  });

  it("counts the global rates alone when there are no levels", () => {
    const report = checkCap({ commission: { l1_rate_bp: 2500, l2_rate_bp: 1000, cap_bp: 3000 } });
    expect(report.cells).toEqual([]);
    expect(report.over).toBe(true);
    expect(report.overCount).toBe(1);
  });
});
