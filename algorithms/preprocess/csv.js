/**
 * A small RFC 4180 CSV reader: comma-separated fields, fields in double quotes may hold commas,
 * line breaks and doubled quotes (""), records end at LF or CRLF. Node built-ins only, so it
 * ships inside the image.
 */

/**
 * Splits CSV text into records of fields. Blank lines are skipped (they are no record at all);
 * a record whose quotes are not closed before the end of the text, or with text after a closing
 * quote, is returned with `broken: true`, to be counted as malformed.
 * @param {string} text
 * @returns {Array<{ fields: string[], broken: boolean }>}
 */
export function parseCsv(text) {
  const records = [];
  let fields = [];
  let field = '';
  let broken = false;
  let i = 0;
  // Whether the current record has any content: a line holding nothing is not a record.
  let started = false;
  const endField = () => {
    fields.push(field);
    field = '';
  };
  const endRecord = () => {
    endField();
    if (started || fields.length > 1) records.push({ fields, broken });
    fields = [];
    broken = false;
    started = false;
  };
  // A byte-order mark is not part of the first column's name.
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  while (i < text.length) {
    const c = text[i];
    if (c === '"' && field === '') {
      // A quoted field: up to the closing quote, "" standing for one quote.
      started = true;
      i++;
      let closed = false;
      while (i < text.length) {
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          closed = true;
          i++;
          break;
        }
        field += text[i++];
      }
      if (!closed) broken = true;
      // Anything between the closing quote and the next separator breaks the record.
      while (i < text.length && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') {
        broken = true;
        field += text[i++];
      }
      continue;
    }
    if (c === ',') {
      started = true;
      endField();
      i++;
    } else if (c === '\n' || c === '\r') {
      endRecord();
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
    } else {
      started = true;
      field += c;
      i++;
    }
  }
  if (started || field !== '' || fields.length > 0) endRecord();
  return records;
}
