/** The leaderboard's bar chart: the top entries, best at the top, amounts shown as ¥ through formatFen. */
import { formatFen } from "../../lib/money";

export interface RankedEntry {
  rank: number;
  nickname: string;
  score_fen: number;
}

export function leaderboardOption(entries: RankedEntry[], top = 20) {
  const shown = entries.slice(0, top).reverse(); // a category axis draws its first item at the bottom
  return {
    grid: { left: 8, right: 24, top: 8, bottom: 8, containLabel: true },
    tooltip: {
      trigger: "axis",
      axisPointer: { type: "shadow" },
      valueFormatter: (value: unknown) => formatFen(Number(value)),
    },
    xAxis: { type: "value", axisLabel: { formatter: (value: number) => formatFen(value) } },
    yAxis: { type: "category", data: shown.map((e) => `${e.rank}. ${e.nickname}`) },
    series: [{ type: "bar", data: shown.map((e) => e.score_fen), barMaxWidth: 18 }],
  };
}
