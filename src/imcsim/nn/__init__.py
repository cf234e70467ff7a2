"""imcsim.nn"""
