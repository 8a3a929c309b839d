import { describe, expect, it } from "vitest";

import { customerQuery, emptyFilters } from "./filters";

describe("customerQuery", () => {
  it("leaves out empty fields", () => {
    expect(customerQuery(emptyFilters())).toEqual({});
  });

  it("trims, strips phone separators and keeps the date range", () => {
    const query = customerQuery({
      ...emptyFilters(), nickname: " 茶香 ", phone: "138 1234-1234", tagId: "tg_1",
      registered: ["2026-11-01", "2026-11-30"],
    });
    expect(query).toEqual({ nickname: "茶香", phone: "13812341234", tag_id: "tg_1", from: "2026-11-01",
                            to: "2026-11-30" });
  });
});
