"""What is wrong and what to fix first: ember doctor."""
