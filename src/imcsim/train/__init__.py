"""imcsim.train"""
