import { describe, expect, it } from "vitest";
import { leaderboardOption } from "./chart";

describe("leaderboardOption", () => {
  it("draws the top entries best-first from the top, amounts as yuan", () => {
    const option = leaderboardOption([
      { rank: 1, nickname: "微**友", score_fen: 50_000 },
      { rank: 2, nickname: "小**明", score_fen: 12_345 },
      { rank: 3, nickname: "阿**三", score_fen: 100 },
    ], 2);
    expect(option.yAxis.data).toEqual(["2. 小**明", "1. 微**友"]);
    expect(option.series[0].data).toEqual([12_345, 50_000]);
    expect(option.xAxis.axisLabel.formatter(12_345)).toBe("¥123.45");
  });
});
