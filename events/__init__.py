"""sigkit.events"""
