/**
 * The six-field NCRONTAB expressions of the Functions timer trigger (`sec min hour day month dow`,
 * UTC): `*`, numbers, ranges, lists, steps, and month and day names (`Jan`, `Mon-Fri`). The settings
 * check a schedule with it at start-up; the local host fires the timer when the runtime would.
 */
const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const FIELDS: readonly { name: string; min: number; max: number; names: readonly string[]; first: number }[] = [
  { name: "second", min: 0, max: 59, names: [], first: 0 },
  { name: "minute", min: 0, max: 59, names: [], first: 0 },
  { name: "hour", min: 0, max: 23, names: [], first: 0 },
  { name: "day", min: 1, max: 31, names: [], first: 0 },
  { name: "month", min: 1, max: 12, names: MONTHS, first: 1 },
  // 7 is Sunday too.
  { name: "day of week", min: 0, max: 7, names: DAYS, first: 0 },
];

export type Schedule = Set<number>[];

export function parseSchedule(expression: string): Schedule {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 6) throw new Error(`schedule "${expression}" must have six fields (sec min hour day month dow)`);
  return parts.map((part, i) => {
    const field = FIELDS[i]!;
    const values = new Set<number>();
    for (const written of part.split(",")) {
      // Names become their numbers (Jan = 1, Sun = 0).
      const item = written.replace(/[a-z]{3}/gi, (name) => {
        const i = field.names.indexOf(name.toLowerCase());
        return i < 0 ? name : String(i + field.first);
      });
      const match = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(item);
      if (!match) throw new Error(`schedule "${expression}": "${written}" is not a valid ${field.name}`);
      const from = match[1] === "*" ? field.min : Number(match[2]);
      const to = match[1] === "*" ? field.max : match[3] !== undefined ? Number(match[3]) : match[4] ? field.max : from;
      const step = match[4] ? Number(match[4]) : 1;
      if (from < field.min || to > field.max || from > to || step < 1) {
        throw new Error(`schedule "${expression}": ${field.name} "${written}" is outside ${field.min}-${field.max}`);
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
