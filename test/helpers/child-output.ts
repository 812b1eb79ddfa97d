import type { ChildProcess } from 'node:child_process';

/** Everything a child process writes to stdout and stderr, as it arrives. */
export function collectOutput(child: ChildProcess): () => string {
  let output = '';
  const append = (d: Buffer) => {
    output += d.toString();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  return () => output;
}
