"""sigkit.vision"""
