import { describe, expect, it } from "vitest";

import { batchBody, emptyBatchForm, explain, summarize } from "./batch";

describe("batchBody", () => {
  it("sends only what was picked, ids once", () => {
    const read = batchBody({ ...emptyBatchForm(), shelf: "off" }, ["p_1", "p_2", "p_1"]);
    expect(read).toEqual({ ok: true, value: { product_ids: ["p_1", "p_2"], on_shelf: false } });
  });

  it("reads a ratio commission in percent and a fixed one in yuan", () => {
    const ratio = batchBody({ ...emptyBatchForm(), commission: "ratio", l1: "10", l2: "5" }, ["p_1"]);
    expect(ratio.ok && ratio.value.commission).toEqual({ mode: "ratio", l1: 1000, l2: 500 });
    const fixed = batchBody({ ...emptyBatchForm(), commission: "fixed", l1: "2", l2: "0.5" }, ["p_1"]);
    expect(fixed.ok && fixed.value.commission).toEqual({ mode: "fixed", l1: 200, l2: 50 });
  });

  it("refuses a batch that changes nothing, or has no ids or too many", () => {
    expect(batchBody(emptyBatchForm(), ["p_1"])).toEqual({ ok: false, errors: { on_shelf: "请至少选择一项要修改的内容" } });
    const none = batchBody({ ...emptyBatchForm(), shelf: "on" }, []);
    expect(!none.ok && none.errors.product_ids).toBeTruthy();
    const many = batchBody({ ...emptyBatchForm(), shelf: "on" }, Array.from({ length: 101 }, (_, i) => `p_${i}`));
    expect(!many.ok && many.errors.product_ids).toBe("一次最多 100 个商品");
  });
});

describe("the answer", () => {
  it("counts outcomes and explains refusals", () => {
    const refused = { product_id: "p_2", outcome: "refused" as const, reason: "the product has invalid fields",
      fields: [{ field: "commission.l1", reason: "over the cap" }], version: 3 };
    const result = { updated: 1, items: [{ product_id: "p_1", outcome: "updated" as const, fields: [], version: 2 }, refused] };
    expect(summarize(result)).toBe("已修改 1 个，被拒绝 1 个");
    expect(explain(refused)).toBe("the product has invalid fields — commission.l1: over the cap");
    expect(explain(result.items[0])).toBe("");
  });
});
