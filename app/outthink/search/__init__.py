"""Test-time search: strategies, and how a final answer is selected among candidates."""
