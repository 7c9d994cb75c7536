/**
 * The small part of OData `$filter` that the simulated deviceavinfo endpoint understands:
 * `<property> eq <literal>` joined by `and`, on the properties the real API documents as filterable.
 */
export class FilterError extends Error {
  override name = "FilterError";
}

const FILTERABLE = [
  "machineId",
  "computerDnsName",
  "osKind",
  "osPlatform",
  "osVersion",
  "avMode",
  "avSignatureVersion",
  "avEngineVersion",
  "avPlatformVersion",
  "quickScanResult",
  "quickScanError",
  "fullScanResult",
  "fullScanError",
  "avIsSignatureUpToDate",
  "avIsEngineUpToDate",
  "avIsPlatformUpToDate",
  "rbacGroupId",
] as const;

const BY_LOWER = new Map<string, string>(FILTERABLE.map((name) => [name.toLowerCase(), name]));

const CONDITION = /^\s*([A-Za-z]+)\s+([A-Za-z]+)\s+('(?:[^']|'')*'|-?\d+(?:\.\d+)?|true|false|null)\s*/i;
const AND = /^and\s+/i;

type Literal = string | number | boolean | null;

interface Condition {
  property: string;
  value: Literal;
}

export type RecordPredicate = (record: Record<string, unknown>) => boolean;

/** Parses `$filter`; throws FilterError naming what it did not understand. */
export function parseFilter(filter: string): RecordPredicate {
  const conditions: Condition[] = [];
  let rest = filter.trim();
  if (rest === "") throw new FilterError("The $filter is empty.");
  for (;;) {
    const match = CONDITION.exec(rest);
    if (!match) throw new FilterError(`Cannot parse $filter near "${rest.slice(0, 40)}": expected <property> eq <literal>.`);
    const [whole, name = "", operator = "", literal = ""] = match;
    const property = BY_LOWER.get(name.toLowerCase());
    if (property === undefined) {
      throw new FilterError(`Property "${name}" is not filterable; filterable: ${FILTERABLE.join(", ")}.`);
    }
    if (operator.toLowerCase() !== "eq") throw new FilterError(`Operator "${operator}" is not supported; only eq (joined by and).`);
    conditions.push({ property, value: parseLiteral(literal) });
    rest = rest.slice(whole.length);
    if (rest === "") break;
    const and = AND.exec(rest);
    if (!and) throw new FilterError(`Cannot parse $filter near "${rest.slice(0, 40)}": expected "and".`);
    rest = rest.slice(and[0].length);
  }
  return (record) => conditions.every((c) => matches(record[c.property], c.value));
}

function parseLiteral(text: string): Literal {
  if (text.startsWith("'")) return text.slice(1, -1).replaceAll("''", "'");
  const lower = text.toLowerCase();
  if (lower === "true") return true;
  if (lower === "false") return false;
  if (lower === "null") return null;
  return Number(text);
}

function matches(actual: unknown, expected: Literal): boolean {
  if (expected === null) return actual === null || actual === undefined;
  if (actual === null || actual === undefined) return false;
  if (typeof expected === "number") return actual !== "" && Number(actual) === expected;
  if (typeof expected === "boolean") return String(actual).toLowerCase() === String(expected);
  return String(actual) === expected;
}
