import type { TSchema, Static } from "typebox";
import { Compile } from "typebox/compile";

/** One validation problem: a JSON pointer into the input and what is wrong there. */
export interface FieldError {
  path: string;
  message: string;
}

/** The outcome of validating untrusted input: the typed value, or every problem found. */
export type Checked<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

/** A schema compiled once; use it for every message of that kind. */
export interface Validator<T> {
  /** The JSON Schema this validator enforces (for docs). */
  readonly schema: TSchema;
  /** Type guard: true when `value` fits the schema. */
  check(value: unknown): value is T;
  /** Validates `value`, returning it typed or with every error. */
  validate(value: unknown): Checked<T>;
}

const MAX_ERRORS = 10;

/** Compiles `schema` into a reusable validator. */
export function validator<S extends TSchema>(schema: S): Validator<Static<S>> {
  const compiled = Compile(schema);
  return {
    schema,
    check: (value: unknown): value is Static<S> => compiled.Check(value),
    validate(value: unknown): Checked<Static<S>> {
      if (compiled.Check(value)) return { ok: true, value };
      const errors: FieldError[] = [];
      for (const e of compiled.Errors(value)) {
        errors.push({ path: e.instancePath, message: e.message });
        if (errors.length >= MAX_ERRORS) break;
      }
      return { ok: false, errors };
    },
  };
}

/** Parses JSON text and validates it; a parse failure (hostile nesting included) is reported as an error at the root. */
export function parseJson<T>(v: Validator<T>, text: string): Checked<T> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, errors: [{ path: "", message: "must be valid JSON" }] };
  }
  return v.validate(value);
}
