/**
 * A small SVG badge in the usual two-part style, `PRODUCTION | locked by alice`, for READMEs
 * and dashboards. Text is escaped; widths are estimated from the characters and then enforced
 * with `textLength`, so the text always fits its part whatever font the viewer has.
 */
import type { LockRecord } from "../core/model.ts";
import { truncate } from "../core/text.ts";
import { markup } from "./html.ts";

const COLORS = { locked: "#e05d44", uberlocked: "#8e44ad", free: "#44a340", never: "#9f9f9f" };
const FONT_SIZE = 11;
const PADDING = 6;

/** What the badge says about an env: who holds it (the uberlock first), or free. */
export function badgeState(
  locks: LockRecord[],
  everLocked: boolean,
): { text: string; color: string } {
  const holder = locks.find((r) => r.uberlock) ?? locks[0];
  if (holder) {
    const who = truncate(holder.user || "(no user)", 40);
    return holder.uberlock
      ? { text: `uberlocked by ${who}`, color: COLORS.uberlocked }
      : { text: `locked by ${who}`, color: COLORS.locked };
  }
  return everLocked
    ? { text: "free", color: COLORS.free }
    : { text: "never locked", color: COLORS.never };
}

/** The badge: `env` on grey, `text` on `color`. */
export function badgeSvg(env: string, text: string, color: string): string {
  const left = textWidth(env) + 2 * PADDING;
  const right = textWidth(text) + 2 * PADDING;
  const width = left + right;
  const label = `${env}: ${text}`;
  const part = (x: number, w: number, s: string) => {
    const fit = markup`textLength="${w - 2 * PADDING}" lengthAdjust="spacingAndGlyphs"`;
    return markup`<text x="${
      x + w / 2
    }" y="15" fill="#010101" fill-opacity=".3" ${fit}>${s}</text><text x="${
      x + w / 2
    }" y="14" ${fit}>${s}</text>`;
  };
  return markup`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="20" role="img" aria-label="${label}">
<title>${label}</title>
<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>
<clipPath id="r"><rect width="${width}" height="20" rx="3" fill="#fff"/></clipPath>
<g clip-path="url(#r)"><rect width="${left}" height="20" fill="#555"/><rect x="${left}" width="${right}" height="20" fill="${color}"/><rect width="${width}" height="20" fill="url(#s)"/></g>
<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="${FONT_SIZE}">${
    part(0, left, env)
  }${part(left, right, text)}</g>
</svg>
`.value;
}

/** An estimate of the width of `s` in 11px Verdana, in whole pixels. */
function textWidth(s: string): number {
  let w = 0;
  for (const c of s) {
    if (/[iljtfI.,:;!'|() ]/.test(c)) w += 4;
    else if (/[mwMW@]/.test(c)) w += 10;
    else if (/[A-Z0-9_#%&]/.test(c)) w += 7.5;
    else w += 6.5;
  }
  return Math.ceil(w);
}
