import { describe, expect, it } from "vitest";

import { chinaDay, formatTime } from "./time";

describe("China time", () => {
  it("shows UTC instants in Asia/Shanghai", () => {
    expect(formatTime("2026-11-30T16:30:00Z")).toBe("2026-12-01 00:30:00");
  });
  it("names the China day of an instant", () => {
    expect(chinaDay(new Date("2026-11-30T16:30:00Z"))).toBe("2026-12-01");
  });
});
