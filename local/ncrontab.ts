/**
 * The six-field NCRONTAB expressions of the Functions timer trigger (`sec min hour day month dow`,
 * UTC), as far as a schedule needs: `*`, numbers, ranges, lists and steps. Lets the local host fire
 * the timer when the runtime would.
 */
const FIELDS = [
  { name: "second", min: 0, max: 59 },
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day", min: 1, max: 31 },
  { name: "month", min: 1, max: 12 },
  { name: "day of week", min: 0, max: 6 },
] as const;

export type Schedule = Set<number>[];

export function parseSchedule(expression: string): Schedule {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 6) throw new Error(`schedule "${expression}" must have six fields (sec min hour day month dow)`);
  return parts.map((part, i) => {
    const field = FIELDS[i]!;
    const values = new Set<number>();
    for (const item of part.split(",")) {
      const match = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(item);
      if (!match) throw new Error(`schedule "${expression}": "${item}" is not a valid ${field.name}`);
      const from = match[1] === "*" ? field.min : Number(match[2]);
      const to = match[1] === "*" ? field.max : match[3] !== undefined ? Number(match[3]) : match[4] ? field.max : from;
      const step = match[4] ? Number(match[4]) : 1;
      if (from < field.min || to > field.max || from > to || step < 1) {
        throw new Error(`schedule "${expression}": ${field.name} "${item}" is outside ${field.min}-${field.max}`);
      }
      for (let v = from; v <= to; v += step) values.add(field.name === "day of week" && v === 7 ? 0 : v);
    }
    return values;
  });
}

/** The first time strictly after `after` that the schedule fires (UTC), within the next ~4 years. */
export function nextOccurrence(schedule: Schedule, after: Date): Date {
  const t = new Date(Math.floor(after.getTime() / 1000) * 1000 + 1000);
  const [sec, min, hour, day, month, dow] = schedule as [Set<number>, Set<number>, Set<number>, Set<number>, Set<number>, Set<number>];
  for (let guard = 0; guard < 4 * 366 * 24 * 60; guard++) {
    if (!month.has(t.getUTCMonth() + 1) || !day.has(t.getUTCDate()) || !dow.has(t.getUTCDay())) {
      t.setUTCHours(24, 0, 0, 0);
      continue;
    }
    if (!hour.has(t.getUTCHours())) {
      t.setUTCHours(t.getUTCHours() + 1, 0, 0, 0);
      continue;
    }
    if (!min.has(t.getUTCMinutes())) {
      t.setUTCMinutes(t.getUTCMinutes() + 1, 0, 0);
      continue;
    }
    for (let s = t.getUTCSeconds(); s < 60; s++) {
      if (sec.has(s)) {
        t.setUTCSeconds(s, 0);
        return t;
      }
    }
    t.setUTCMinutes(t.getUTCMinutes() + 1, 0, 0);
  }
  throw new Error("schedule never fires");
}
