//! Loads DicomEdit 6 scripts (parsed once, cached by file) and runs them on a parsed dataset.
import { readFileSync } from 'node:fs';
import type { Element } from '../../dicom/dataset.ts';
import { parseScript } from './dicomedit/parser.ts';
import { runScript } from './dicomedit/evaluate.ts';
import type { ScriptHost } from './dicomedit/target.ts';
import { editTarget } from './edit-target.ts';
import type { ScriptRunner } from './series-types.ts';

/** A loader for the transform: config load has already parsed each script, so errors here are unexpected. */
export function createScriptLoader(): (file: string) => ScriptRunner {
  const cache = new Map<string, ScriptRunner>();
  return (file) => {
    let r = cache.get(file);
    if (!r) {
      r = scriptRunner(file, readFileSync(file, 'utf8'));
      cache.set(file, r);
    }
    return r;
  };
}

export function scriptRunner(name: string, text: string): ScriptRunner {
  const script = parseScript(text);
  return {
    name: name.split('/').at(-1) ?? name,
    run(elements: Element[], vars: Readonly<Record<string, string>>, host: ScriptHost): Element[] {
      runScript(script, editTarget(elements), { ...vars }, host);
      return elements;
    },
  };
}
