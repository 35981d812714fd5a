"""Reader questions: ready answers, routing to departments, information needs (instruction
2.7-2.9, 2.13 and section 5)."""
