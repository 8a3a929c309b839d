import { describe, expect, it } from "vitest";

import { usePager } from "./paging";

const pages: Record<string, { items: number[]; next_cursor?: string }> = {
  first: { items: [1, 2], next_cursor: "c2" },
  c2: { items: [3, 4], next_cursor: "c3" },
  c3: { items: [5] },
};

describe("usePager", () => {
  it("walks forward and back with the API's cursors", async () => {
    const asked: (string | undefined)[] = [];
    const pager = usePager(async (cursor) => {
      asked.push(cursor);
      return pages[cursor ?? "first"];
    });
    await pager.reload();
    expect(pager.items.value).toEqual([1, 2]);
    expect(pager.hasPrevious.value).toBe(false);
    await pager.next();
    await pager.next();
    expect(pager.items.value).toEqual([5]);
    expect(pager.hasNext.value).toBe(false);
    expect(pager.pageNumber.value).toBe(3);
    await pager.previous();
    expect(pager.items.value).toEqual([3, 4]);
    expect(asked).toEqual([undefined, "c2", "c3", "c2"]);
  });

  it("starts again from the first page on reload", async () => {
    const pager = usePager(async (cursor) => pages[cursor ?? "first"]);
    await pager.reload();
    await pager.next();
    await pager.reload();
    expect(pager.pageNumber.value).toBe(1);
    expect(pager.items.value).toEqual([1, 2]);
  });
});
