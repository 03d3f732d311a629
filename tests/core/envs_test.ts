import assert from "node:assert/strict";
import { editDistance, typoOf } from "../../src/core/envs.ts";

Deno.test("typoOf: a new env that is one slip away from a known one", async (t) => {
  const known = ["PRODUCTION", "STAGING", "QA", "DEV", "STAGING-1", "EU-WEST"];
  await t.step("typos: a letter missing, extra, wrong, or two swapped", () => {
    for (const typo of ["PRODUCTON", "PRODUCTIONN", "PRODUCTIOM", "PRODUCITON", "PORDUCITON"]) {
      assert.equal(typoOf(typo, known), "PRODUCTION", typo);
    }
    assert.equal(typoOf("STAGNG", known), "STAGING");
    assert.equal(typoOf("EU-WSET", known), "EU-WEST");
  });
  await t.step("new envs: far from every known one, short, or numbered siblings", () => {
    for (const name of ["PREPROD", "PERF", "QB", "DEV2", "STAGING-2", "STAGING2", "PROD"]) {
      assert.equal(typoOf(name, known), undefined, name);
    }
    assert.equal(typoOf("PRODUCTION", known), undefined, "a known env is not a typo of itself");
    assert.equal(typoOf("ANYTHING", []), undefined);
  });
  await t.step("the closest known env wins", () => {
    assert.equal(typoOf("STAGINGS", ["STAGING", "STAGINGSS"]), "STAGING");
  });
  await t.step("editDistance counts a swap of neighbours as one edit", () => {
    assert.equal(editDistance("AB", "BA"), 1);
    assert.equal(editDistance("", "ABC"), 3);
    assert.equal(editDistance("KITTEN", "SITTING"), 3);
  });
});
