// Method: the last N things that happened in a run, each stamped with simulated time and step,
// kept in a fixed ring (bounded memory however long the run), printed when a seed fails.

export class Trace {
  private readonly ring: string[] = [];
  private next = 0;
  private total = 0;

  constructor(
    private readonly length: number,
    private readonly stamp: () => string,
  ) {}

  add(line: string): void {
    if (this.length <= 0) return;
    const stamped = `${this.stamp()} ${line}`;
    if (this.ring.length < this.length) this.ring.push(stamped);
    else this.ring[this.next] = stamped;
    this.next = (this.next + 1) % this.length;
    this.total += 1;
  }

  lines(): string[] {
    if (this.ring.length < this.length) return [...this.ring];
    return [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
  }

  get count(): number {
    return this.total;
  }
}
