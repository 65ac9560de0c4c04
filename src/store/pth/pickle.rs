//! The bounds-checked pickle machine: just what `torch.save` writes for a state_dict (protocol
//! 2: dicts, tuples, persistent ids of storages, `_rebuild_tensor_v2`). Malformed input is an
//! error, never a panic.

use std::collections::HashMap;

/// Most tuple/list/dict/reduce/build opcodes accepted in one pickle: a state_dict uses about
/// eight per tensor (VGG's has 32 tensors), so this allows ~6,000 tensors while keeping any
/// nesting shallow enough for a 2 MB thread stack.
const MAX_NESTING_OPS: usize = 50_000;

// Some payloads are parsed for completeness but never read back.
#[allow(dead_code)]
#[derive(Debug, Clone)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global(String, String),
    Storage { dtype: String, key: String },
    Tensor(TensorRef),
    Mark,
    Opaque,
}

#[derive(Debug, Clone)]
pub(super) struct TensorRef {
    pub(super) dtype: String,
    pub(super) key: String,
    pub(super) offset: i64,
    pub(super) size: Vec<i64>,
    pub(super) stride: Vec<i64>,
}

fn as_int_list(v: &Value) -> Option<Vec<i64>> {
    match v {
        Value::Tuple(items) | Value::List(items) => items
            .iter()
            .map(|x| match x {
                Value::Int(i) => Some(*i),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// A pickle machine over `data`. `err` builds errors naming the file.
struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    memo: HashMap<u32, Value>,
}

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or_else(|| format!("pickle truncated at byte {}", self.pos))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> std::result::Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> std::result::Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn line(&mut self) -> std::result::Result<String, String> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|&c| c == b'\n')
            .ok_or("unterminated GLOBAL name")?;
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.pos += n + 1;
        Ok(s)
    }
    fn pop(&mut self) -> std::result::Result<Value, String> {
        self.stack
            .pop()
            .ok_or_else(|| "pickle stack underflow".to_string())
    }
    fn pop_mark(&mut self) -> std::result::Result<Vec<Value>, String> {
        let at = self
            .stack
            .iter()
            .rposition(|v| matches!(v, Value::Mark))
            .ok_or("pickle MARK missing")?;
        let items = self.stack.split_off(at + 1);
        self.stack.pop();
        Ok(items)
    }
    fn str_of(&mut self, n: usize) -> std::result::Result<Value, String> {
        let b = self.take(n)?;
        Ok(Value::Str(String::from_utf8_lossy(b).into_owned()))
    }

    fn reduce(callable: Value, args: Value) -> Value {
        let args = match args {
            Value::Tuple(a) => a,
            _ => return Value::Opaque,
        };
        match callable {
            Value::Global(m, n) if m == "collections" && n == "OrderedDict" => Value::Dict(vec![]),
            Value::Global(m, n) if m == "torch._utils" && n == "_rebuild_tensor_v2" => {
                match (args.first(), args.get(1), args.get(2), args.get(3)) {
                    (
                        Some(Value::Storage { dtype, key }),
                        Some(Value::Int(offset)),
                        Some(size),
                        Some(stride),
                    ) => match (as_int_list(size), as_int_list(stride)) {
                        (Some(size), Some(stride)) => Value::Tensor(TensorRef {
                            dtype: dtype.clone(),
                            key: key.clone(),
                            offset: *offset,
                            size,
                            stride,
                        }),
                        _ => Value::Opaque,
                    },
                    _ => Value::Opaque,
                }
            }
            Value::Global(m, n) if m == "torch._utils" && n == "_rebuild_parameter" => {
                args.into_iter().next().unwrap_or(Value::Opaque)
            }
            _ => Value::Opaque,
        }
    }

    fn run(&mut self) -> std::result::Result<Value, String> {
        // Every opcode that can put values inside another one (a tuple, list, dict, reduce or
        // build) deepens the nesting by at most one: bounding their number bounds the depth, so
        // dropping or cloning a hostile pickle's values cannot overflow the stack (TUPLE1 a
        // million times nests a million deep in a 1 MB pickle).
        let mut nesting_ops = 0usize;
        loop {
            let op = self.u8()?;
            if matches!(
                op,
                b't' | 0x85..=0x87 | b'a' | b'e' | b's' | b'u' | b'b' | b'R' | 0x81 | b'Q'
            ) {
                nesting_ops += 1;
                if nesting_ops > MAX_NESTING_OPS {
                    return Err(format!(
                        "pickle nests values more than {MAX_NESTING_OPS} times (not a state_dict)"
                    ));
                }
            }
            match op {
                0x80 => {
                    self.u8()?;
                } // PROTO
                0x95 => {
                    self.take(8)?;
                } // FRAME
                b'.' => return self.pop(), // STOP
                b'(' => self.stack.push(Value::Mark),
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'}' => self.stack.push(Value::Dict(vec![])),
                b']' => self.stack.push(Value::List(vec![])),
                b')' => self.stack.push(Value::Tuple(vec![])),
                b'J' => {
                    let b = self.take(4)?;
                    self.stack.push(Value::Int(
                        i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64
                    ))
                }
                b'K' => {
                    let v = self.u8()?;
                    self.stack.push(Value::Int(v as i64))
                }
                b'M' => {
                    let b = self.take(2)?;
                    self.stack
                        .push(Value::Int(u16::from_le_bytes([b[0], b[1]]) as i64))
                }
                0x8a => {
                    // LONG1: little-endian two's complement of n bytes
                    let n = self.u8()? as usize;
                    let b = self.take(n)?;
                    if n > 8 {
                        return Err("integer too large".into());
                    }
                    let mut v: i64 = 0;
                    for (i, &byte) in b.iter().enumerate() {
                        v |= (byte as i64) << (8 * i);
                    }
                    if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n);
                    }
                    self.stack.push(Value::Int(v))
                }
                b'G' => {
                    let b = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    self.stack.push(Value::Float(f64::from_be_bytes(a)))
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let v = self.str_of(n)?;
                    self.stack.push(v)
                }
                0x8c | b'U' => {
                    let n = self.u8()? as usize;
                    let v = self.str_of(n)?;
                    self.stack.push(v)
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.stack.push(Value::Global(module, name))
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => self.stack.push(Value::Global(m, n)),
                        _ => return Err("STACK_GLOBAL needs two strings".into()),
                    }
                }
                b'q' => {
                    let k = self.u8()? as u32;
                    let top = self.stack.last().cloned().ok_or("BINPUT on empty stack")?;
                    self.memo.insert(k, top);
                }
                b'r' => {
                    let k = self.u32()?;
                    let top = self
                        .stack
                        .last()
                        .cloned()
                        .ok_or("LONG_BINPUT on empty stack")?;
                    self.memo.insert(k, top);
                }
                0x94 => {
                    let k = self.memo.len() as u32;
                    let top = self.stack.last().cloned().ok_or("MEMOIZE on empty stack")?;
                    self.memo.insert(k, top);
                }
                b'h' | b'j' => {
                    let k = if op == b'h' {
                        self.u8()? as u32
                    } else {
                        self.u32()?
                    };
                    let v = self
                        .memo
                        .get(&k)
                        .cloned()
                        .ok_or_else(|| format!("memo key {k} missing"))?;
                    self.stack.push(v)
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(items))
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err("pickle stack underflow".into());
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.stack.push(Value::Tuple(items))
                }
                b'Q' => {
                    // BINPERSID: ('storage', storage_type, key, location, numel)
                    let pid = self.pop()?;
                    let storage = match pid {
                        Value::Tuple(items) => match (items.get(1), items.get(2)) {
                            (Some(Value::Global(_, ty)), Some(Value::Str(key))) => Value::Storage {
                                dtype: ty.clone(),
                                key: key.clone(),
                            },
                            _ => return Err("unsupported persistent id".into()),
                        },
                        _ => return Err("unsupported persistent id".into()),
                    };
                    self.stack.push(storage)
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    self.stack.push(Self::reduce(callable, args))
                }
                b'b' => {
                    self.pop()?; // BUILD: state (e.g. the state_dict's _metadata) is not needed
                    if self.stack.is_empty() {
                        return Err("BUILD on empty stack".into());
                    }
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    match self.stack.last_mut() {
                        Some(Value::Dict(d)) => d.push((k, v)),
                        Some(_) => {}
                        None => return Err("SETITEM on empty stack".into()),
                    }
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let mut pairs = Vec::with_capacity(items.len() / 2);
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    match self.stack.last_mut() {
                        Some(Value::Dict(d)) => d.extend(pairs),
                        Some(_) => {}
                        None => return Err("SETITEMS on empty stack".into()),
                    }
                }
                b'a' => {
                    let v = self.pop()?;
                    if let Some(Value::List(l)) = self.stack.last_mut() {
                        l.push(v)
                    }
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    if let Some(Value::List(l)) = self.stack.last_mut() {
                        l.extend(items)
                    }
                }
                other => {
                    return Err(format!(
                        "unsupported pickle opcode {other:#04x} at byte {}",
                        self.pos - 1
                    ))
                }
            }
            if self.stack.len() > 1_000_000 {
                return Err("pickle stack too deep".into());
            }
        }
    }
}

/// Parses the pickle of a state_dict into (name, tensor reference) pairs.
pub(super) fn parse_state_dict(
    pickle: &[u8],
) -> std::result::Result<Vec<(String, TensorRef)>, String> {
    let mut m = Machine {
        data: pickle,
        pos: 0,
        stack: Vec::new(),
        memo: HashMap::new(),
    };
    let top = m.run()?;
    let Value::Dict(items) = top else {
        return Err("the pickle does not hold a dict (not a state_dict)".into());
    };
    let mut out = Vec::new();
    for (k, v) in items {
        match (k, v) {
            (Value::Str(name), Value::Tensor(t)) => out.push((name, t)),
            (Value::Str(name), _) => return Err(format!("entry `{name}` is not a tensor")),
            _ => return Err("a state_dict key is not a string".into()),
        }
    }
    Ok(out)
}

/// Parses the `data.pkl` pickle of a state_dict into (name, shape) pairs without touching any
/// storage: the pure part of the reader (used by the fuzz target). Errors are plain text.
pub fn inspect_pickle(pickle: &[u8]) -> std::result::Result<Vec<(String, Vec<i64>)>, String> {
    Ok(parse_state_dict(pickle)?
        .into_iter()
        .map(|(name, r)| (name, r.size))
        .collect())
}
