-- tostring(x) for tensors (to be replaced by the full formatter).
return function(x)
  return string.format('tensor(shape={%s}, dtype=%s)', table.concat(x:shape(), ','), x.dtype)
end
