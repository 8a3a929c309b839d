import { describe, expect, it } from "vitest";

import { PRIZE_TOTAL_CAP_FEN, tableProblem, totalFen, withoutRank, withRank } from "./prizes";

const table = { measure: "sales" as const, prizes: [{ rank: 1, amount_fen: 500 }, { rank: 2, amount_fen: 200 }] };

describe("prize table", () => {
  it("adds a rank at the end with the last amount, ranks 1..N", () => {
    expect(withRank(table).prizes).toEqual([
      { rank: 1, amount_fen: 500 }, { rank: 2, amount_fen: 200 }, { rank: 3, amount_fen: 200 }]);
  });

  it("removes a rank and renumbers the rest", () => {
    expect(withoutRank(withRank(table), 1).prizes).toEqual([{ rank: 1, amount_fen: 200 }, { rank: 2, amount_fen: 200 }]);
    expect(withoutRank({ ...table, prizes: [{ rank: 1, amount_fen: 5 }] }, 1).prizes).toEqual([{ rank: 1, amount_fen: 0 }]);
  });

  it("totals and refuses what the API refuses", () => {
    expect(totalFen(table)).toBe(700);
    expect(tableProblem(table)).toBeNull();
    expect(tableProblem({ ...table, prizes: [{ rank: 1, amount_fen: PRIZE_TOTAL_CAP_FEN + 1 }] })).toContain("合计");
    expect(tableProblem({ ...table, prizes: [{ rank: 1, amount_fen: -1 }] })).toContain("负数");
  });
});
