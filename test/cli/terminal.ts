/**
 * A small terminal model for checking what a renderer leaves on screen: printable text, CR, LF
 * (as a tty with onlcr: new line, column 0), cursor up (CSI n A / n F), erase to end of screen
 * (CSI J) and line (CSI K). Lines longer than the width wrap, as a terminal does, and are counted;
 * resize() reflows soft-wrapped lines as VTE, kitty, iTerm2 and tmux do.
 */
export class Terminal {
  /** Physical rows; `wrapped` means the row continues on the next one (a soft wrap). */
  private rows: Array<{ text: string; wrapped: boolean }> = [{ text: '', wrapped: false }];
  private row = 0;
  private col = 0;
  /** How many times a line was wrapped because it did not fit. */
  wraps = 0;
  /** Escape sequences seen, for "no escape codes" checks. */
  escapes = 0;

  constructor(public columns: number) {}

  write(data: string): void {
    for (let i = 0; i < data.length; i++) {
      const ch = data[i]!;
      if (ch === '\x1b' && data[i + 1] === '[') {
        let j = i + 2;
        while (j < data.length && /[0-9;?]/.test(data[j]!)) j++;
        this.csi(data.slice(i + 2, j), data[j]!);
        this.escapes++;
        i = j;
      } else if (ch === '\r') this.col = 0;
      else if (ch === '\n') this.newline(false);
      else this.put(ch);
    }
  }

  private line(index: number): { text: string; wrapped: boolean } {
    while (this.rows.length <= index) this.rows.push({ text: '', wrapped: false });
    return this.rows[index]!;
  }

  private newline(soft: boolean): void {
    this.line(this.row).wrapped = soft;
    this.row++;
    this.col = 0;
    this.line(this.row);
  }

  private put(ch: string): void {
    if (this.col >= this.columns) {
      this.wraps++;
      this.newline(true);
    }
    const row = this.line(this.row);
    row.text = row.text.padEnd(this.col, ' ');
    row.text = row.text.slice(0, this.col) + ch + row.text.slice(this.col + 1);
    this.col++;
  }

  private csi(params: string, command: string): void {
    const n = params === '' ? 1 : Number(params.split(';')[0]);
    switch (command) {
      case 'A':
        this.row = Math.max(0, this.row - n);
        break;
      case 'F':
        this.row = Math.max(0, this.row - n);
        this.col = 0;
        break;
      case 'J':
        this.line(this.row).text = this.line(this.row).text.slice(0, this.col);
        this.line(this.row).wrapped = false;
        this.rows.length = this.row + 1;
        break;
      case 'K':
        this.line(this.row).text = params === '2' ? '' : this.line(this.row).text.slice(0, this.col);
        break;
      default:
        throw new Error(`terminal model: unknown escape sequence CSI ${params}${command}`);
    }
  }

  /** Changes the width and reflows soft-wrapped rows into the new width. */
  resize(columns: number): void {
    const logical: Array<{ text: string; start: number }> = [];
    let cursor = { line: 0, offset: 0 };
    let current = '';
    for (let i = 0; i < this.rows.length; i++) {
      if (i === this.row) cursor = { line: logical.length, offset: current.length + this.col };
      current += this.rows[i]!.text.padEnd(this.rows[i]!.wrapped ? this.columns : 0, ' ');
      if (!this.rows[i]!.wrapped) {
        logical.push({ text: current, start: 0 });
        current = '';
      }
    }
    if (current) logical.push({ text: current, start: 0 });
    this.columns = columns;
    this.rows = [];
    for (let l = 0; l < logical.length; l++) {
      const text = logical[l]!.text;
      const first = this.rows.length;
      for (let at = 0; at === 0 || at < text.length; at += columns) {
        this.rows.push({ text: text.slice(at, at + columns), wrapped: at + columns < text.length });
      }
      if (l === cursor.line) {
        this.row = first + Math.floor(cursor.offset / columns);
        this.col = cursor.offset % columns;
      }
    }
    if (this.rows.length === 0) this.rows.push({ text: '', wrapped: false });
  }

  /** Lines as written: soft-wrapped rows joined. */
  logicalLines(): string[] {
    const out: string[] = [];
    let current = '';
    for (const row of this.rows) {
      current += row.wrapped ? row.text.padEnd(this.columns, ' ') : row.text;
      if (!row.wrapped) {
        out.push(current.trimEnd());
        current = '';
      }
    }
    if (current) out.push(current.trimEnd());
    while (out.length && out[out.length - 1] === '') out.pop();
    return out;
  }

  /** The screen and scrollback as text lines, trailing blanks removed. */
  lines(): string[] {
    const out = this.rows.map((r) => r.text.trimEnd());
    while (out.length && out[out.length - 1] === '') out.pop();
    return out;
  }
}
