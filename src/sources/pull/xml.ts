//! A small XML tokenizer for the parts of an XLSX file: elements, attributes, text and the predefined entities.
// SpreadsheetML parts are plain, namespace-prefixed XML. We need start and end tags, attributes and
// text; a document type declaration is refused outright (no entity definitions, so no expansion
// attacks), namespace prefixes are dropped (`x:c` is `c`), and a malformed document throws.

export class XmlError extends Error {
  override readonly name = 'XmlError';
}

export interface XmlHandler {
  open(name: string, attrs: ReadonlyMap<string, string>, selfClosing: boolean): void;
  close(name: string): void;
  text(text: string): void;
}

const ENTITIES: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeEntities(s: string): string {
  if (!s.includes('&')) {
    return s;
  }
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (_, ref: string) => {
    if (ref.startsWith('#x')) {
      return String.fromCodePoint(parseInt(ref.slice(2), 16));
    }
    if (ref.startsWith('#')) {
      return String.fromCodePoint(parseInt(ref.slice(1), 10));
    }
    const v = ENTITIES[ref];
    if (v === undefined) {
      throw new XmlError(`Unknown entity &${ref};.`);
    }
    return v;
  });
}

const localName = (qname: string): string => qname.slice(qname.indexOf(':') + 1);

const ATTR = /([^\s=/>]+)\s*=\s*("([^"]*)"|'([^']*)')/g;

/** Walks `xml`, calling the handler for each tag and text run. */
export function parseXml(xml: string, h: XmlHandler): void {
  let i = 0;
  const stack: string[] = [];
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    if (lt < 0) {
      if (xml.slice(i).trim() !== '' && stack.length === 0) {
        throw new XmlError('Text after the document element.');
      }
      if (stack.length > 0) {
        h.text(decodeEntities(xml.slice(i)));
      }
      break;
    }
    if (lt > i && stack.length > 0) {
      h.text(decodeEntities(xml.slice(i, lt)));
    }
    if (xml.startsWith('<?', lt)) {
      const end = xml.indexOf('?>', lt);
      if (end < 0) {
        throw new XmlError('Unterminated processing instruction.');
      }
      i = end + 2;
    } else if (xml.startsWith('<!--', lt)) {
      const end = xml.indexOf('-->', lt);
      if (end < 0) {
        throw new XmlError('Unterminated comment.');
      }
      i = end + 3;
    } else if (xml.startsWith('<![CDATA[', lt)) {
      const end = xml.indexOf(']]>', lt);
      if (end < 0) {
        throw new XmlError('Unterminated CDATA section.');
      }
      if (stack.length > 0) {
        h.text(xml.slice(lt + 9, end));
      }
      i = end + 3;
    } else if (xml.startsWith('<!', lt)) {
      throw new XmlError('Document type declarations are not accepted.');
    } else if (xml.startsWith('</', lt)) {
      const end = xml.indexOf('>', lt);
      if (end < 0) {
        throw new XmlError('Unterminated end tag.');
      }
      const name = localName(xml.slice(lt + 2, end).trim());
      const open = stack.pop();
      if (open !== name) {
        throw new XmlError(`End tag </${name}> does not close <${open ?? ''}>.`);
      }
      h.close(name);
      i = end + 1;
    } else {
      // A start tag: find its end outside quoted attribute values.
      let j = lt + 1;
      let quote: string | null = null;
      for (; j < xml.length; j++) {
        const c = xml[j];
        if (quote) {
          if (c === quote) {
            quote = null;
          }
        } else if (c === '"' || c === "'") {
          quote = c;
        } else if (c === '>') {
          break;
        }
      }
      if (j >= xml.length) {
        throw new XmlError('Unterminated start tag.');
      }
      const body = xml.slice(lt + 1, j);
      const selfClosing = body.endsWith('/');
      const inner = selfClosing ? body.slice(0, -1) : body;
      const nameEnd = inner.search(/[\s]|$/);
      const name = localName(inner.slice(0, nameEnd));
      if (!name) {
        throw new XmlError('A tag without a name.');
      }
      const attrs = new Map<string, string>();
      for (const m of inner.slice(nameEnd).matchAll(ATTR)) {
        attrs.set(localName(m[1] ?? ''), decodeEntities(m[3] ?? m[4] ?? ''));
      }
      h.open(name, attrs, selfClosing);
      if (selfClosing) {
        h.close(name);
      } else {
        stack.push(name);
      }
      i = j + 1;
    }
  }
  if (stack.length > 0) {
    throw new XmlError(`Element <${stack.at(-1) ?? ''}> is not closed.`);
  }
}
