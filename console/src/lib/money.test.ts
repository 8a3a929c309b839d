import { describe, expect, it } from "vitest";

import { formatBps, formatFen, parseYuan } from "./money";

describe("formatFen", () => {
  it("shows fen as yuan with two decimals", () => {
    expect(formatFen(0)).toBe("¥0.00");
    expect(formatFen(5)).toBe("¥0.05");
    expect(formatFen(123456)).toBe("¥1,234.56");
    expect(formatFen(-250)).toBe("-¥2.50");
  });
  it("shows a dash for a missing amount", () => {
    expect(formatFen(null)).toBe("—");
    expect(formatFen(undefined)).toBe("—");
  });
});

describe("parseYuan", () => {
  it("reads what a merchant types as integer fen", () => {
    expect(parseYuan("12.5")).toBe(1250);
    expect(parseYuan("¥1,200.00")).toBe(120000);
    expect(parseYuan("0.01")).toBe(1);
    expect(parseYuan("3")).toBe(300);
  });
  it("refuses what is not an amount in fen", () => {
    expect(parseYuan("1.005")).toBeNull();
    expect(parseYuan("abc")).toBeNull();
    expect(parseYuan("")).toBeNull();
  });
});

describe("formatBps", () => {
  it("shows basis points as a percentage", () => {
    expect(formatBps(1500)).toBe("15%");
    expect(formatBps(1250)).toBe("12.5%");
    expect(formatBps(3000)).toBe("30%");
  });
});
