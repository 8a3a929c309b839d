import { describe, expect, it } from "vitest";

import { countdownText } from "./tracking";

const view = {
  order_id: "o_1", status: "SHIPPED", shipped_at: "2026-11-04T02:30:41Z", delivered_at: "2026-11-05T06:12:40Z",
  buyer: null, parcels: [],
  auto_confirm: { runs_from: "delivery" as const, started_at: "2026-11-05T06:12:40Z", ends_at: "2026-11-15T06:12:40Z",
                  days: 10 },
};

describe("countdownText", () => {
  it("says from when the countdown runs and when it ends", () => {
    const text = countdownText(view);
    expect(text).toContain("自签收起 10 天");
    expect(text).toContain("自动确认收货");
  });
  it("is empty when no countdown runs", () => {
    expect(countdownText({ ...view, auto_confirm: null })).toBeNull();
  });
});
