"""One folder per stage: thin nodes over the library, and the stage's pipeline template."""
