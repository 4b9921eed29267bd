# The layers, enforced: every quoted #include in a folder must name a header of that
# folder or of a layer below it (docs/architecture.md, "Layers"). The link dependencies
# alone cannot catch an include running back up (every library sees the whole source tree,
# and a header-only include links fine), so this reads the includes themselves. Runs at
# configure time (include()d from CMakeLists.txt) and as the first build step
# (cmake -DSP_SOURCE_DIR=... -P), so an upward include fails both.
#
#   protocol, config  <  net  <  backend, sentinel  <  session  <  worker  <  top (pool, admin, logging, main)
#
if(CMAKE_SCRIPT_MODE_FILE)
  cmake_minimum_required(VERSION 3.20)  # IN_LIST below
endif()

# A layer's allowed list names the layers it may include, itself first; "generated" is
# version.h from the build tree.
set(SP_LAYER_ALLOWED_protocol protocol)
set(SP_LAYER_ALLOWED_config config generated)
set(SP_LAYER_ALLOWED_net net protocol config)
set(SP_LAYER_ALLOWED_backend backend net protocol config)
set(SP_LAYER_ALLOWED_sentinel sentinel net protocol config)
set(SP_LAYER_ALLOWED_session session backend sentinel net protocol config)
set(SP_LAYER_ALLOWED_worker worker session backend sentinel net protocol config)
set(SP_LAYER_ALLOWED_top top worker session backend sentinel net protocol config generated)

# The layer a folder (relative to the source root) belongs to, or "" if none.
function(sp_layer_of_dir dir out)
  if(dir STREQUAL "protocol" OR dir STREQUAL "config")
    set(layer ${dir})
  elseif(dir MATCHES "^proxy/(net|backend|sentinel|session|worker)$")
    set(layer ${CMAKE_MATCH_1})
  elseif(dir STREQUAL "proxy" OR dir STREQUAL "proxy/admin")
    set(layer top)
  elseif(dir STREQUAL "")
    set(layer generated)
  else()
    set(layer "")
  endif()
  set(${out} ${layer} PARENT_SCOPE)
endfunction()

function(sp_check_layers source_dir)
  set(violations "")
  foreach(folder protocol config proxy/net proxy/backend proxy/sentinel proxy/session proxy/worker proxy
                 proxy/admin)
    sp_layer_of_dir(${folder} layer)
    file(GLOB files ${source_dir}/${folder}/*.h ${source_dir}/${folder}/*.cpp)
    foreach(file ${files})
      file(STRINGS ${file} lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
      foreach(line ${lines})
        string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]*)\".*" "\\1" header "${line}")
        get_filename_component(header_dir "${header}" DIRECTORY)
        sp_layer_of_dir("${header_dir}" header_layer)
        if(NOT header_layer IN_LIST SP_LAYER_ALLOWED_${layer})
          file(RELATIVE_PATH rel ${source_dir} ${file})
          if(header_layer STREQUAL "")
            set(header_layer "no layer")
          endif()
          string(REPLACE ";" ", " allowed "${SP_LAYER_ALLOWED_${layer}}")
          string(APPEND violations
                 "\n  ${rel}: #include \"${header}\" (${header_layer}); ${layer} may include only: ${allowed}")
        endif()
      endforeach()
    endforeach()
  endforeach()
  if(violations)
    message(FATAL_ERROR "Includes running back up the layers (docs/architecture.md, \"Layers\"):"
                        "${violations}\nMove the shared piece down to a layer both sides see, "
                        "or pass a callback down.")
  endif()
endfunction()

if(CMAKE_SCRIPT_MODE_FILE)
  sp_check_layers(${SP_SOURCE_DIR})
endif()
