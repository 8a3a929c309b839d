import { describe, expect, it } from "vitest";

import { actionsFor, capRefusal, needsReason, parsePercent, percentText } from "./rules";

describe("promoter actions", () => {
  it("offers review for an application, freeze for an active promoter, unfreeze for a frozen one", () => {
    expect(actionsFor("applied")).toEqual(["approve", "reject", "disable"]);
    expect(actionsFor("active")).toEqual(["freeze", "disable"]);
    expect(actionsFor("frozen")).toEqual(["unfreeze", "disable"]);
    expect(actionsFor("disabled")).toEqual([]);
    expect(actionsFor("rejected")).toEqual([]);
  });

  it("asks a reason where the API requires one", () => {
    expect(needsReason("reject")).toBe(true);
    expect(needsReason("freeze")).toBe(true);
    expect(needsReason("disable")).toBe(true);
    expect(needsReason("approve")).toBe(false);
    expect(needsReason("unfreeze")).toBe(false);
  });
});

describe("override rates", () => {
  it("reads percentages as basis points", () => {
    expect(parsePercent("12.5")).toBe(1250);
    expect(parsePercent("12.5%")).toBe(1250);
    expect(parsePercent(" 8 ")).toBe(800);
    expect(parsePercent("0.05")).toBe(5);
    expect(parsePercent("")).toBeNull();
  });

  it("refuses what is not a percentage", () => {
    expect(parsePercent("abc")).toBeUndefined();
    expect(parsePercent("1.234")).toBeUndefined();
    expect(parsePercent("-1")).toBeUndefined();
  });

  it("shows basis points back as the percentage typed", () => {
    expect(percentText(1250)).toBe("12.5");
    expect(percentText(800)).toBe("8");
    expect(percentText(null)).toBe("");
    expect(percentText(parsePercent("7.25"))).toBe("7.25");
  });
});

describe("the cap refusal", () => {
  it("marks the inputs it involves and lists each combination once", () => {
    const refusal = capRefusal({
      l1_override_bp: "L1 30% + L2 5% = 35% > cap 30%",
      "promoters[u_1].l2_override_bp": "L1 30% + L2 5% = 35% > cap 30%",
      "categories[tea].l2_rate_bp": "L1 30% + tea L2 8% = 38% > cap 30%",
    });
    expect(refusal.inputs).toEqual({ l1_override_bp: "超出佣金上限", l2_override_bp: "超出佣金上限" });
    expect(refusal.lines).toEqual(["L1 30% + L2 5% = 35% > cap 30%", "L1 30% + tea L2 8% = 38% > cap 30%"]);
  });
});
