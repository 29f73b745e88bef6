//! Python values <-> JSON values, for payloads and metadata in the JSON export.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString};
use serde_json::{Map, Number, Value};

/// The JSON form of a Python value, or `None` when it has none that reads back as the same
/// value (tuples, sets, non-string keys, NaN, objects, ints beyond 64 bits).
pub fn to_json_value(obj: &Bound<'_, PyAny>) -> Option<Value> {
    if obj.is_none() {
        return Some(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Some(Value::Bool(b.is_true()));
    }
    if obj.is_exact_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Some(Value::from(i));
        }
        return obj.extract::<u64>().ok().map(Value::from);
    }
    if obj.is_exact_instance_of::<PyFloat>() {
        let f: f64 = obj.extract().ok()?;
        return Number::from_f64(f).map(Value::Number);
    }
    if obj.is_exact_instance_of::<PyString>() {
        return obj.extract::<String>().ok().map(Value::String);
    }
    if let Ok(list) = obj.cast_exact::<PyList>() {
        return list
            .iter()
            .map(|x| to_json_value(&x))
            .collect::<Option<Vec<_>>>()
            .map(Value::Array);
    }
    if let Ok(dict) = obj.cast_exact::<PyDict>() {
        let mut map = Map::new();
        for (k, v) in dict.iter() {
            if !k.is_exact_instance_of::<PyString>() {
                return None;
            }
            map.insert(k.extract::<String>().ok()?, to_json_value(&v)?);
        }
        return Some(Value::Object(map));
    }
    None
}

/// The Python value of a JSON value.
pub fn from_json_value(py: Python<'_>, value: &Value) -> PyResult<Py<PyAny>> {
    Ok(match value {
        Value::Null => py.None(),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any().unbind(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any().unbind()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any().unbind()
            } else {
                n.as_f64()
                    .unwrap_or(f64::NAN)
                    .into_pyobject(py)?
                    .into_any()
                    .unbind()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any().unbind(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(from_json_value(py, item)?)?;
            }
            list.into_any().unbind()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, from_json_value(py, v)?)?;
            }
            dict.into_any().unbind()
        }
    })
}
