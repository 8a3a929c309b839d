import { describe, expect, it } from "vitest";

import { lastChinaDays, orderIdOf, orderListQuery } from "./filters";

const ymd = (date: Date): string =>
  `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, "0")}-${String(date.getDate()).padStart(2, "0")}`;

describe("orderListQuery", () => {
  it("sends the picked China days as from / to", () => {
    expect(orderListQuery({ status: "PAID", days: ["2026-10-02", "2026-10-03"] }, "c2", 10)).toEqual({
      status: "PAID", from: "2026-10-02", to: "2026-10-03", limit: 10, cursor: "c2",
    });
  });
  it("sends no range when none is picked", () => {
    const query = orderListQuery({ status: "SHIPPED", days: null }, undefined);
    expect(query).toEqual({ status: "SHIPPED", limit: 20, cursor: undefined });
    expect("from" in query || "to" in query).toBe(false);
  });
});

describe("orderIdOf", () => {
  it("trims what was typed", () => {
    expect(orderIdOf("  o_01hx7k3zq \n")).toEqual({ id: "o_01hx7k3zq" });
  });
  it("refuses empty text and what no id looks like", () => {
    expect(orderIdOf("   ")).toEqual({ problem: "请输入订单号" });
    expect("problem" in orderIdOf("o_1/../ship")).toBe(true);
    expect("problem" in orderIdOf("订单123")).toBe(true);
    expect("problem" in orderIdOf("o")).toBe(true);
  });
});

describe("lastChinaDays", () => {
  it("counts China days: 16:30 UTC is already the next day in China", () => {
    const [first, last] = lastChinaDays(7, new Date("2026-10-01T16:30:00Z"));
    expect([ymd(first), ymd(last)]).toEqual(["2026-09-26", "2026-10-02"]);
  });
  it("today alone is one day", () => {
    const [first, last] = lastChinaDays(1, new Date("2026-10-01T15:59:59Z"));
    expect([ymd(first), ymd(last)]).toEqual(["2026-10-01", "2026-10-01"]);
  });
});
