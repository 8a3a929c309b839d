import type { components } from "../../api/schema";
import { COUNTDOWN_FROM } from "../../lib/labels";
import { formatTime } from "../../lib/time";

type Tracking = components["schemas"]["TrackingView"];

/** 自动确认收货: from when the countdown runs and when it ends, in one line (null when none runs). */
export function countdownText(view: Tracking): string | null {
  const countdown = view.auto_confirm;
  if (!countdown) return null;
  return `自${COUNTDOWN_FROM[countdown.runs_from]}起 ${countdown.days} 天（${formatTime(countdown.started_at)}），`
    + `${formatTime(countdown.ends_at)} 自动确认收货`;
}

