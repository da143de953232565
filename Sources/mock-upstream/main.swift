print("mock-upstream")
