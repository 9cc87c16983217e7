"""What goes into a completion prompt: the code around the cursor, chosen with
tree-sitter within a token budget (`prompt.build_context` is the entry point)."""
