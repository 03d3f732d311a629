/** Whether Debian's `faketime` is installed: tests that shift a process's clock need it. */
export function hasFaketime(): boolean {
  try {
    return new Deno.Command("faketime", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}
