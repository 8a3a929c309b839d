import { describe, expect, it } from "vitest";
import { changeRows, chinaDaysToInstants } from "./filters";

describe("chinaDaysToInstants", () => {
  it("covers whole China days in UTC", () => {
    expect(chinaDaysToInstants(["2026-12-01", "2026-12-02"])).toEqual({
      from: "2026-11-30T16:00:00.000Z",
      to: "2026-12-02T15:59:59.999Z",
    });
  });
  it("sends nothing without a range", () => {
    expect(chinaDaysToInstants(null)).toEqual({});
  });
});

describe("changeRows", () => {
  it("pairs before and after by field, money in yuan", () => {
    expect(changeRows({ status: "OPEN", amount_fen: 100 }, { status: "RELEASED", note: "ok" })).toEqual([
      { field: "status", before: "OPEN", after: "RELEASED" },
      { field: "金额", before: "¥1.00", after: "—" },
      { field: "note", before: "—", after: "ok" },
    ]);
  });
});
